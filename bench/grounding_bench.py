"""Grounding benchmark (issue #12): a 200 KB text and 1,000 extracted values.

The text (meeting notes: names, emails, handles, amounts, dates, filler) and the values are
generated from a seed: 900 written exactly as in the text, 60 that need normalising (case and
spacing of a name, an amount as a number, a date as a `date`), 30 fuzzy (one letter of a long
name changed), 10 not in the text (invented). Prints the index build time, per category the
mean and p95 microseconds per look-up, the total for the whole set, and beside it the engine's
own time to stream the same values as a JSON answer (`stream_model`, 1-6-character chunks),
then any value whose status is not the category it was generated for.
Targets: exact and normalised look-ups <= 20 us each; the whole set <= 50 ms.

    python bench/grounding_bench.py [--size 200000] [--seed 12] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import stream_model
from engine.grounding import EXACT, FUZZY, NORMALISED, NOT_FOUND, TextIndex

FIRST = ["Jason", "Maria", "Priya", "Tomasz", "Aiko", "Olumide", "Sofia", "Liam", "Chen",
         "Fatima", "Diego", "Ingrid", "Kwame", "Yuki", "Amara", "Nikolai", "Leila", "Mateo",
         "Hannah", "Ravi", "Elena", "Omar", "Greta", "Samuel", "Zainab", "Lucas", "Mei",
         "Anders", "Carmen", "Tariq"]
LAST = ["Liu", "Gonzalez", "Raman", "Kowalski", "Tanaka", "Adeyemi", "Rossi", "Murphy",
        "Wang", "Haddad", "Fernandez", "Lindqvist", "Mensah", "Sato", "Okafor", "Volkov",
        "Karimi", "Herrera", "Schneider", "Sharma", "Petrova", "Farouk", "Nilsson", "Abiodun",
        "Castellanos", "Vandermeer", "Montgomery", "Bartholomew", "Wojciechowski", "Oyelaran"]
PLACES = ["Grand Tech Arena", "Riverside Conference Centre", "North Harbour Pavilion",
          "Innovation Hub Lisbon", "Maplewood Community Hall", "Eastgate Business Park"]
DOMAINS = ["acme.com", "example.org", "northwind.io", "contoso.net"]
COMMON = ["the", "team", "agreed", "to", "revisit", "roadmap", "after", "quarterly", "review",
          "and", "noted", "that", "several", "open", "questions", "about", "vendors", "a"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


class Answer(BaseModel):
    values: list[str]


def vocabulary(rnd: random.Random) -> tuple[list[str], list[float]]:
    """Filler words with Zipf frequencies: a few very common, most rare (as in prose)."""
    syllables = ["ka", "ri", "mo", "len", "tu", "sa", "vor", "pel", "in", "da", "gro", "shi"]
    words = COMMON + sorted({"".join(rnd.choice(syllables) for _ in range(rnd.randint(2, 4)))
                             for _ in range(3000)})
    return words, [1 / rank for rank in range(1, len(words) + 1)]


def date_text(day: dt.date, rnd: random.Random) -> str:
    month = MONTHS[day.month - 1]
    return rnd.choice([f"{month} {day.day}, {day.year}", f"{day.day} {month} {day.year}",
                       f"{month[:3]} {day.day} {day.year}"])


def build(size: int, seed: int) -> tuple[str, list[tuple[str, Any]]]:
    """The text and (category, value) pairs: 900 exact, 60 normalised, 30 fuzzy, 10 absent."""
    rnd = random.Random(seed)
    words, weights = vocabulary(rnd)
    parts: list[str] = []
    facts: dict[str, list[Any]] = {"name": [], "email": [], "handle": [], "amount": [],
                                   "amount_text": [], "date": [], "phrase": []}
    n = 0
    while n < size:
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        i = len(parts)
        email = f"{first.lower()}.{last.lower()}{i}@{rnd.choice(DOMAINS)}"
        handle = f"@{first.lower()}_{i}"
        amount = rnd.randrange(1_000, 500_000)
        day = dt.date(2020, 1, 1) + dt.timedelta(days=rnd.randrange(2000))
        filler = " ".join(rnd.choices(words, weights, k=rnd.randint(8, 20)))
        para = (f"On {date_text(day, rnd)}, {first} {last} ({email}, {handle}) met at "
                f"{rnd.choice(PLACES)}. Budget: ${amount:,}. Also {filler}.\n")
        parts.append(para)
        n += len(para)
        facts["name"].append(f"{first} {last}")
        facts["email"].append(email)
        facts["handle"].append(handle)
        facts["amount"].append(amount)
        facts["amount_text"].append(f"${amount:,}")
        facts["date"].append(day)
        facts["phrase"].append(" ".join(filler.split()[2:6]))
    text = "".join(parts)
    return text, _values(text, facts, rnd)


def _values(text: str, facts: dict[str, list[Any]], rnd: random.Random) -> list[tuple[str, Any]]:
    values: list[tuple[str, Any]] = []
    kinds = ["name", "email", "handle", "amount_text", "phrase"]
    for _ in range(900):
        values.append((EXACT, rnd.choice(facts[rnd.choice(kinds)])))
    for k in range(60):
        if k % 3 == 0:
            value: Any = rnd.choice(facts["name"]).upper().replace(" ", "  ")
        elif k % 3 == 1:
            value = rnd.choice(facts["amount"])
        else:
            value = rnd.choice(facts["date"])
        values.append((NORMALISED, value))
    long_names = [n for n in facts["name"] if len(n) >= 14]
    for _ in range(30):
        name = rnd.choice(long_names)
        at = rnd.randrange(name.index(" ") + 2, len(name) - 1)  # a letter of the surname
        values.append((FUZZY, name[:at] + ("x" if name[at] != "x" else "q") + name[at + 1 :]))
    for k in range(10):
        values.append((NOT_FOUND, f"Zebulon Quackenbush{k}" if k % 2 else f"vy{k}@nowhere.zz"))
    rnd.shuffle(values)
    return values


def stream_time(values: list[Any], rnd: random.Random) -> float:
    """CPU seconds for the engine to stream the values as a JSON answer, 1-6-char chunks."""
    answer = json.dumps({"values": [v.isoformat() if isinstance(v, dt.date) else str(v)
                                    for v in values]})
    chunks, i = [], 0
    while i < len(answer):
        k = rnd.randint(1, 6)
        chunks.append(answer[i : i + k])
        i += k
    start = time.process_time()
    for snap in stream_model(Answer, chunks):
        _ = snap.partial
    return time.process_time() - start


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.95) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    text, values = build(args.size, args.seed)
    print(f"text {len(text):,} chars, {len(values)} values")
    builds: list[float] = []
    totals: list[float] = []
    per: list[float] = []
    took: list[list[float]] = [[] for _ in values]
    statuses: list[str | None] = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        index = TextIndex(text)
        builds.append(time.perf_counter() - t0)
        statuses = []
        for j, (_, value) in enumerate(values):
            t0 = time.perf_counter()
            g = index.ground(value)
            took[j].append(time.perf_counter() - t0)
            statuses.append(g and g.status)
        totals.append(sum(t[-1] for t in took))
        per.append(stream_time([v for _, v in values], random.Random(args.seed)))
    # Per value, the median of its repeats (the machine is shared: one slow repeat is noise).
    times: dict[str, list[float]] = {s: [] for s in (EXACT, NORMALISED, FUZZY, NOT_FOUND)}
    for (category, _), t in zip(values, took, strict=True):
        times[category].append(statistics.median(t) * 1e6)
    mismatches = [f"  {category:>10}: {value!r} -> {status}"
                  for (category, value), status in zip(values, statuses, strict=True)
                  if status != category]
    print(f"index build: median {statistics.median(builds) * 1e3:.1f} ms "
          f"(min {min(builds) * 1e3:.1f})")
    for status, xs in times.items():
        print(f"  {status:>10} x{len(xs):>4}: mean {statistics.mean(xs):7.1f} us, "
              f"p95 {p95(xs):7.1f} us, max {max(xs):7.1f} us")
    print(f"whole set (one index, each value once): median "
          f"{statistics.median(totals) * 1e3:.1f} ms "
          f"(min {min(totals) * 1e3:.1f}); targets exact/normalised <= 20 us, set <= 50 ms")
    print(f"engine streaming the same values as JSON: median {statistics.median(per) * 1e3:.1f}"
          f" ms CPU")
    print(f"status mismatches: {len(mismatches)}")
    print("\n".join(mismatches[:40]))


if __name__ == "__main__":
    main()
