"""`fieldstream eval …`: evaluations from the command line. This module holds the arguments
(light: `fieldstream extract` does not load the queue); `engine.evaluate.console` does the work.

    fieldstream eval run Invoices --lane schema=Invoice@3,provider=local --min-f1 0.8
    fieldstream eval run Invoices --lanes lanes.json --json
    fieldstream eval list | show ID [--json]
    fieldstream eval sets import NAME --schema Invoice@3 --answers gold.jsonl docs/ | list
    fieldstream eval sets export NAME [--version N] --out set.zip | starter [NAME]

`run` starts the evaluation (each lane a batch on its provider's queue), runs its documents in
this process as `fieldstream batch start` does, then prints the table: per lane micro and
macro F1, exact documents, values not in the text, seconds and tokens per document, cost;
then each field's F1 per lane. Exit 1 when a lane's micro F1 is under `--min-f1` (each such
lane named on stderr): a team's CI catches a schema change that extracts worse. Exit 2 on bad
input (one message). A `--lane` is `key=value` pairs (engine/evaluate/lanes_cli.py: values
may be double-quoted; `schema=NAME@N` pins a version).

Progress and hints go to stderr as `# …` lines; the table (or `--json`) to stdout.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any) -> None:
    """`eval …` on the CLI's subcommands."""
    doc = __doc__ or ""
    ev = sub.add_parser(
        "eval", help="score lanes on a labelled set: run, list, show, sets",
        description="Which schema and model extract your documents best, field by field.",
        epilog="\n\n".join(doc.split("\n\n")[1:3]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ops = ev.add_subparsers(dest="op", required=True)
    run = ops.add_parser("run", help="run lanes over a labelled set and print their scores")
    run.add_argument("set", metavar="SET", help="the labelled set's name")
    run.add_argument("--version", type=int, default=None, metavar="N",
                     help="the set's version (default: the newest)")
    lanes = run.add_mutually_exclusive_group(required=True)
    lanes.add_argument("--lane", action="append", metavar="KEY=VALUE,…",
                       help="schema=NAME[@N],provider=P[,model=M][,mode=M][,chunking=always]"
                            "[,label=L]; 1 to 4 of them")
    lanes.add_argument("--lanes", metavar="FILE", help="Compare's lanes as JSON")
    run.add_argument("--min-f1", type=float, default=None, metavar="F",
                     help="exit 1 when a lane's micro F1 is under F (0 to 1)")
    run.add_argument("--fuzzy", type=float, default=None, metavar="T",
                     help="count text right when its similarity is at least T (0 to 1)")
    run.add_argument("--timeout", type=float, default=None, metavar="S",
                     help="stop the evaluation after S seconds (exit 1)")
    run.add_argument("--name", default=None, help="a name for the evaluation")
    run.add_argument("--json", action="store_true", help="machine-readable")
    listing = ops.add_parser("list", help="recent evaluations")
    listing.add_argument("--set", default=None, help="of this set only")
    listing.add_argument("--limit", type=int, default=20)
    show = ops.add_parser("show", help="an evaluation's table, and what changed since the "
                                       "earlier one of its set")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="machine-readable")
    _sets_parsers(ops)


def _sets_parsers(ops: Any) -> None:
    sets = ops.add_parser("sets", help="labelled sets: import, list, export, starter")
    sops = sets.add_subparsers(dest="sets_op", required=True)
    imp = sops.add_parser("import", help="a set (or its new version) from documents and a "
                                         "file of expected answers")
    imp.add_argument("name", metavar="NAME")
    imp.add_argument("--schema", required=True, metavar="S[@V]",
                     help="the schema the answers fit (a saved one's version after @)")
    imp.add_argument("--answers", required=True, metavar="FILE",
                     help="JSON Lines or CSV of expected answers, matched by file name")
    imp.add_argument("documents", nargs="+", metavar="FILE|FOLDER|ZIP")
    sops.add_parser("list", help="the sets, newest version of each")
    exp = sops.add_parser("export", help="a set version as a ZIP (documents + answers.jsonl)")
    exp.add_argument("name", metavar="NAME")
    exp.add_argument("--version", type=int, default=None, metavar="N")
    exp.add_argument("--out", required=True, metavar="FILE.zip")
    exp.add_argument("--force", action="store_true", help="overwrite FILE.zip")
    starter = sops.add_parser("starter", help="install the starter sets shipped with "
                                              "Fieldstream (or the one named)")
    starter.add_argument("name", nargs="?", default=None, metavar="NAME",
                         help="one starter set only (default: every one)")
    starter.add_argument("--limit", type=int, default=None, metavar="N",
                         help="its first N documents only")
