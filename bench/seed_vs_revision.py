"""The seed meeting note on a freshly started local server, this checkout against an older
revision, side by side in one run (#22): each tree in its own process (its own server, started
for the run and stopped after), alternating, `--rounds` each, medians.

    python bench/seed_vs_revision.py --old b326bea [--rounds 3]

Per run: time to the first finished field and in total (the app's request: `MeetingInfo`,
the default mode, the default local model, the first request after the server started).
Target: both at most 0.6x the old revision's. The old revision is checked out into a temporary
git worktree (removed afterwards); the weights are shared (~/.cache/fieldstream).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from revision import ROOT, revision_tree

TARGET = 0.6
CODE = r"""
import json, sys
sys.path[:0] = [{tree!r}]
import engine
from engine import extract
from engine.local import server as lm
from engine.providers import client_for, local_provider
from engine.schemas.library import MEETING_NOTE, MeetingInfo
assert engine.__file__.startswith({tree!r}), engine.__file__
provider = local_provider()
client = client_for(provider)  # a fresh server: this process's own
*_, snap = extract(MEETING_NOTE, MeetingInfo, client=client, model=provider.default_model)
lm.stop_servers()
usage = snap.usage or {{}}
print(json.dumps({{"first_done": snap.timings.first_done, "total": snap.timings.elapsed,
                  "tokens": usage.get("completion_tokens"), "error": str(snap.error or "")}}))
"""


def _one(tree: Path) -> dict:
    env = {**os.environ, "FIELDSTREAM_WARM_LOCAL": "0"}
    done = subprocess.run([sys.executable, "-c", CODE.format(tree=str(tree))], env=env,
                          cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="the revision to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with revision_tree(args.old) as old:
        trees = {f"old {args.old}": old, "this checkout": ROOT}
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(_one(tree))
    medians = {}
    for name, values in runs.items():
        first = statistics.median(v["first_done"] for v in values)
        total = statistics.median(v["total"] for v in values)
        medians[name] = (first, total)
        each = ", ".join(f"{v['first_done']:.2f}/{v['total']:.2f} ({v['tokens']} tok)"
                         for v in values)
        print(f"{name:>22}: first done field {first:5.2f} s, total {total:5.2f} s  [{each}]")
    (old_first, old_total), (new_first, new_total) = medians.values()
    ratios = new_first / old_first, new_total / old_total
    met = all(r <= TARGET for r in ratios)
    print(f"this checkout / old: first done field {ratios[0]:.2f}, total {ratios[1]:.2f} "
          f"(target <= {TARGET}: {'met' if met else 'NOT met'})")


if __name__ == "__main__":
    main()
