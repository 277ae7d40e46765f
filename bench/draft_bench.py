"""Schema drafts on the embedded model: five described schemas (#22).

    python bench/draft_bench.py [--model KEY] [--seed 7]

Each description (`engine.schemas.draft_cases.CASES`: invoice, support ticket, job posting, meeting,
product review) is drafted as the Schemas page drafts it (`DraftDefinition`, the draft prompt,
`DRAFT_MAX_TOKENS`, temperature 0, a fixed seed) on a freshly started local server. Per draft:
seconds to the end, tokens, whether `proposal()` makes a valid definition, and how many of the
fields the description names it has (accepted names per field). Targets on 2 cores: every draft
valid, >= 80 % of the named fields, <= 60 s each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import extract
from engine.providers import client_for, local_provider
from engine.schemas import draft
from engine.schemas.definition import SchemaDefinitionError
from engine.schemas.draft_cases import CASES, covered

TARGET_SECONDS, TARGET_SHARE = 60.0, 0.8


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="a local model's key (default: the default)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--show", action="store_true", help="print each proposal's fields")
    args = ap.parse_args()
    provider = local_provider()
    model = args.model or provider.default_model
    started = time.perf_counter()
    client = client_for(provider, model)  # starts the server
    print(f"model {model}; server ready in {time.perf_counter() - started:.1f} s")
    met = True
    for name, case in CASES.items():
        *_, snap = extract(draft.draft_request(case.description), draft.DraftDefinition,
                           client=client, model=model, system=draft.DRAFT_INSTRUCTION,
                           max_tokens=draft.DRAFT_MAX_TOKENS, seed=args.seed)
        seconds, tokens = snap.timings.elapsed, (snap.usage or {}).get("completion_tokens", 0)
        try:
            defn = draft.proposal(snap.final) if snap.error is None else None
            problem = "" if defn else f"error: {snap.error}"
        except SchemaDefinitionError as exc:
            defn, problem = None, "invalid: " + "; ".join(exc.problems)
        found = covered(defn, case) if defn else []
        share = len(found) / case.size
        ok = defn is not None and share >= TARGET_SHARE and seconds <= TARGET_SECONDS
        met &= ok
        missing = [f.key for f in case.fields if f.key not in found]
        print(f"{name:15} {seconds:5.1f} s  {tokens:4d} tok  first token "
              f"{snap.timings.first_token or 0:4.1f} s  fields {len(found)}/{case.size} "
              f"({share:.0%})  {'ok' if ok else 'MISSED'}  {problem}"
              + (f"  missing: {', '.join(missing)}" if missing else ""), flush=True)
        if args.show and defn:
            for f in defn.fields:
                kids = f" [{', '.join(f'{c.name}:{c.type}' for c in f.children)}]" \
                    if f.children else ""
                extra = f" {f.choices}" if f.choices else ""
                print(f"    {f.name}: {f.type}{extra}{kids} — {f.description}")
    print(f"targets (valid, >= {TARGET_SHARE:.0%} of the fields, <= {TARGET_SECONDS:.0f} s "
          f"each): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
