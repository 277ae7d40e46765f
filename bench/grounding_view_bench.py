"""Highlighted input text benchmark (ui/highlight.highlight_html): what one redraw of the
Extract page's "Input text" tab costs, for a short note and for a 200 KB text.

For each case, the text is grounded through the engine's own index (TextIndex, built once) and
the HTML is built with 0, 10, 100 and all of the values grounded (a run part-way and at its
end), and once with a field picked; prints the median build time (of --repeat) and the HTML's
size (what goes to the browser on each redraw). The view redraws at most
`ui.live_form.TEXT_HZ` times a second, so the build time times TEXT_HZ is its share of a
second of streaming.

    python bench/grounding_view_bench.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.grounding import Grounding, TextIndex
from engine.schemas.library import MEETING_NOTE
from ui.highlight import highlight_html
from ui.live_form import TEXT_HZ

WORDS = ("invoice", "meeting", "budget", "review", "contract", "delivery", "Berlin", "Lagos",
         "quarterly", "signed", "pending", "approved")


def big_text(size: int = 200_000, values: int = 1_000) -> tuple[str, list[str]]:
    """A text of about `size` characters with `values` distinct names and emails in it."""
    rng = random.Random(7)
    found = [f"person{i}@example{i % 37}.org" for i in range(values)]
    parts, at = [], 0
    per = size // values
    for value in found:
        filler = " ".join(rng.choice(WORDS) for _ in range((per - 22) // 8))
        parts.append(f"{filler} Contact {value}.\n")
        at += len(parts[-1])
    return "".join(parts), found


def ground_all(text: str, values: list[str]) -> dict[str, Grounding]:
    index = TextIndex(text)
    out = {}
    for i, value in enumerate(values):
        g = index.ground(value)
        if g is not None:
            out[f"items[{i}]"] = g
    return out


def timed(repeat: int, text: str, grounding: dict[str, Grounding], selected: str | None) -> tuple[
        float, int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = len(highlight_html(text, grounding, selected))
        times.append(time.perf_counter() - start)
    return statistics.median(times), size


def report(name: str, text: str, values: list[str], repeat: int) -> None:
    grounding = ground_all(text, values)
    paths = list(grounding)
    print(f"\n{name}: {len(text):,} characters, {len(grounding):,} values grounded")
    print(f"{'values shown':>14} {'picked':>7} {'build ms':>9} {'HTML KB':>8}"
          f" {'ms/s at TEXT_HZ':>16}")
    counts = sorted({0, min(10, len(paths)), min(100, len(paths)), len(paths)})
    cases = [(n, None) for n in counts] + [(len(paths), paths[len(paths) // 2])]
    for n, picked in cases:
        part = {p: grounding[p] for p in paths[:n]}
        median, size = timed(repeat, text, part, picked)
        print(f"{n:>14,} {'yes' if picked else 'no':>7} {median * 1000:>9.2f} {size / 1024:>8.1f}"
              f" {median * 1000 * TEXT_HZ:>16.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    note_values = ["John Doe", "johndoe@email.com", "@TechGuru44", "Jane Smith",
                   "janesmith@email.com", "March 15th, 2024", "Grand Tech Arena",
                   "February 20th", "nobody@invented.example"]
    report("Seed meeting note", MEETING_NOTE, note_values, args.repeat)
    text, values = big_text()
    report("200 KB text", text, values, args.repeat)


if __name__ == "__main__":
    main()
