"""`fieldstream batch …` and `fieldstream worker`: batches from the command line. This module
holds their arguments (light: `fieldstream extract` does not load the queue);
`engine.batch.console` does the work.

    fieldstream batch start --schema Invoice invoices/          # runs here, a progress bar
    fieldstream batch start --schema Invoice mails.csv --text-column body --no-wait
    fieldstream batch status ID [--json] | list | stop ID | resume ID | retry ID
    fieldstream batch export ID --as csv|jsonl|xlsx [-o FILE|-]
    fieldstream worker [--id NAME]                              # runs queued documents

`start`, `resume` and `retry` run the batch's documents in this process (its provider's queue
only; workers and the app take their share) until none is queued or running, then print a
summary. With `--no-wait` this process takes no document: it stores and queues the batch and
leaves, and a `fieldstream worker` (or the app) runs it. Each CLI has its own executor id
(`cli-<host>-<pid>`: two may run at once), so if it dies its documents are taken over by the
other processes' heartbeats. Ctrl-C stops the batch (queued documents cancelled, running ones
end keeping what arrived) and leaves once they have; `resume ID` goes on.

Progress and hints go to stderr as `# …` lines; what a command answers (a summary, a status, a
list, an export with `-o -`) to stdout. Every stored name is printed escaped.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

EXPORT_KINDS = ("csv", "jsonl", "xlsx")

#: (provider name or None, model or None, mode or None) -> (provider, model, mode), as
#: `fieldstream extract` picks them (the CLI passes its own).
PickProvider = Callable[[str | None, str | None, str | None], tuple[Any, str, str]]


class CommandError(Exception):
    """A batch command that cannot go on: an unknown batch, no input files, a file that would
    be overwritten. The message is shown as it is (exit 2)."""


def add_parsers(sub: Any) -> None:
    """`batch …` and `worker` on the CLI's subcommands."""
    doc = __doc__ or ""
    bat = sub.add_parser(
        "batch", help="many documents, one schema: start, status, list, resume, retry, stop, "
                      "export",
        description="Many documents, one schema: rows filling in, resumable, exported.",
        epilog="\n\n".join(doc.split("\n\n")[1:3]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ops = bat.add_subparsers(dest="op", required=True)
    start = ops.add_parser("start", help="store, queue and run a batch of documents")
    start.add_argument("inputs", nargs="+", metavar="FILE|FOLDER",
                       help="files, folders (their files, recursively; hidden ones skipped), "
                            "ZIP archives, CSV files (with --text-column: a document a row)")
    start.add_argument("--schema", required=True, help="a library or saved schema's name")
    start.add_argument("--schema-version", default=None, metavar="V",
                       help="a saved schema's version (default: the newest, pinned now)")
    start.add_argument("--provider", default=None, help="provider name or kind (default: "
                                                        "as for extract)")
    start.add_argument("--model", default=None)
    start.add_argument("--mode", default=None)
    start.add_argument("--chunking", choices=("auto", "always"), default=None)
    start.add_argument("--passes", type=int, default=0, metavar="N")
    start.add_argument("--text-column", default=None, metavar="C",
                       help="a CSV's column holding the text (each row a document)")
    start.add_argument("--reuse", action="store_true",
                       help="take an earlier batch's answer for the same bytes and settings")
    start.add_argument("--name", default=None, help="a name for the batch")
    _waiting_flag(start)
    status = ops.add_parser("status", help="a batch's counts, throughput, ETA, tokens, cost")
    status.add_argument("id")
    status.add_argument("--json", action="store_true", help="machine-readable")
    listing = ops.add_parser("list", help="recent batches with their counts")
    listing.add_argument("--limit", type=int, default=20)
    for op, what in (("resume", "queue again what did not run (after stop or a crash)"),
                     ("retry", "run the failed documents again"),
                     ("stop", "cancel the queued documents; running ones keep what arrived")):
        one = ops.add_parser(op, help=what)
        one.add_argument("id")
        if op != "stop":
            _waiting_flag(one)
    exp = ops.add_parser("export", help="write a batch's table as CSV, JSON Lines or Excel")
    exp.add_argument("id")
    exp.add_argument("--as", dest="kind", required=True, choices=EXPORT_KINDS)
    exp.add_argument("-o", "--output", default=None, metavar="FILE",
                     help="default batch-<id>.<ext> here; - for stdout")
    exp.add_argument("--force", action="store_true", help="overwrite FILE")
    worker = sub.add_parser("worker", help="run queued batch documents on this machine until "
                                           "Ctrl-C (once: finish those in hand; twice: hand "
                                           "them back)")
    worker.add_argument("--id", default=None, metavar="NAME",
                        help="this worker's stable name (default FIELDSTREAM_EXECUTOR_ID, "
                             "else worker-<host>)")


def _waiting_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true",
                        help="queue and leave: a worker or the app runs the documents")

