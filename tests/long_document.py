"""A long meeting record, self-written for the tests and the bench (#19): the `MeetingInfo`
facts spread over its pages, between paragraphs of ordinary minutes that state none of them,
so a split document has its values in different parts and on known pages.

    pages, where = meeting_pages(chars=24_000, pages=4)
    where["budget"]  # -> 3: the page that states it
"""

from __future__ import annotations

import random

#: What each page states (page index in a document of `pages` pages: 0 first, -1 last).
FACTS: tuple[tuple[str, int, str], ...] = (
    ("date", 0, "The planning meeting is set for 2026-03-14."),
    ("location", 0, "It takes place at the Riverside Library, room 4."),
    ("users[0]", 1, "Anna Berg (anna.berg@example.org, @annaberg) chairs the meeting."),
    ("users[1]", 1, "Tomás Ruiz (tomas.ruiz@example.org, @truiz) keeps the minutes."),
    ("budget", 2, "The approved budget for the season is 4800 dollars."),
    ("deadline", -1, "All proposals must be submitted by 2026-04-30."),
)
EXPECTED = {"date": "2026-03-14", "location": "Riverside Library", "budget": 4800,
            "deadline": "2026-04-30",
            "users": [{"name": "Anna Berg", "email": "anna.berg@example.org",
                       "twitter": "@annaberg"},
                      {"name": "Tomás Ruiz", "email": "tomas.ruiz@example.org",
                       "twitter": "@truiz"}]}

_SUBJECTS = ("The garden committee", "The volunteers", "The treasurer's team", "Our neighbours",
             "The youth group", "The maintenance crew", "The events circle")
_VERBS = ("reviewed", "discussed", "summarised", "questioned", "welcomed", "postponed",
          "described")
_OBJECTS = ("the watering rota for the summer", "the state of the tool shed",
            "last year's harvest festival", "the compost bins near the gate",
            "the new signs for the paths", "the bee hives on the east side",
            "the seed exchange in the spring", "the fence that needs repair")
_ENDINGS = ("and agreed to come back to it later.", "without reaching a decision.",
            "and thanked everyone who helped.", "and asked for more volunteers.",
            "and noted that nothing has to be bought for it.")


def filler(rng: random.Random, chars: int) -> str:
    """Paragraphs of minutes that state no date, place, amount, name or address."""
    paragraphs, size = [], 0
    while size < chars:
        sentences = [f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
                     f"{rng.choice(_ENDINGS)}" for _ in range(rng.randint(3, 6))]
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs)


def meeting_pages(
    chars: int = 24_000, pages: int = 4, seed: int = 7
) -> tuple[list[str], dict[str, int]]:
    """`pages` pages of about `chars` characters in all; the 1-based page each fact is on."""
    rng = random.Random(seed)
    per_page = max(200, chars // pages)
    where = {name: (page % pages) + 1 for name, page, _ in FACTS}
    texts = []
    for page in range(1, pages + 1):
        facts = [sentence for name, _, sentence in FACTS if where[name] == page]
        body = filler(rng, per_page // 2)
        rest = filler(rng, per_page - len(body) - sum(len(f) for f in facts))
        texts.append("\n\n".join([body, *facts, rest]))
    return texts, where
