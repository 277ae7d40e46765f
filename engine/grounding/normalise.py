"""What counts as the same value in the text: the one place that decides it.

Exact: the value as written (`exact_text`: strings as they are, numbers by `str`, dates and
times in ISO). Normalised: the same sequence of canonical tokens (`tokens`, `value_forms`):

- case (casefold), compatibility forms (NFKD) and accents (combining marks dropped: "José" is
  "jose"); apostrophes inside a word dropped ("O'Brien" is "obrien");
- every other character that is not a letter or digit separates tokens, so runs of whitespace
  and line breaks, punctuation around a value and `@handle` vs `handle` do not matter, but the
  order of the words does ("Liu, Jason" is not "Jason Liu");
- CJK characters (kana, ideographs, hangul) are one token each, so a CJK value matches inside
  a longer run;
- numbers are compared by value: grouping commas (`18,500`), trailing decimal zeros
  (`18,500.00`), leading zeros (`03`), ordinals (`15th`) and a `k` for thousands (`18.5k` is
  18500) do not matter; the sign does (`-5` is not `5`); a European `1.234,5` is 1234.5 only
  when both separators make it unambiguous (`1.234` alone is 1.234); currency signs separate
  (`$18,500` is the token 18500); `m`/`M` are not millions (metres, minutes);
- a date (a `date` value or an ISO string) also matches `March 15, 2024`, `15 March 2024`,
  `Mar 15 2024`, `3/15/2024`, `15.03.2024`, `2024/03/15`, two-digit years (`3/15/24`) and,
  when no spelling with the year is in the text, `March 15` / `15 March` without the year
  (month named); a day-month order that fits either reading (`5/3/2024`) matches either;
- a time matches `14:30`, `14:30:00`, `2:30 pm`, `2 pm`; a datetime matches its date spellings
  followed by its time spellings.

Numbers, dates, times and strings that are only numbers are never matched fuzzily: a digit
off is another value. Nor are they found exactly inside a longer number (`stands_alone`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_APOSTROPHES = "'\u2019\u02bc"
# Word characters but CJK, and combining marks: a run of either at a time, so a word of a
# million letters is one step of the pattern, not a million (each step of a repeated group
# costs the matcher memory: 240 MB for a 1 MB word).
_LETTERS = rf"(?:[^\W{_CJK}]+|[{_MARKS}]+)"
# One pass over the text; the first alternative that fits wins, so a number is read whole
# ("18,500.00") before its digits could start a word, and a CJK character stands alone.
_TOKEN = re.compile(
    rf"""
    (?P<num>
        (?:(?<![\w.,])-)?                        # a sign only where a number starts
        (?:(?<!\d[.,])                           # not the tail of 15.03.2024
           (?:\d{{1,3}}(?:\.\d{{3}})+,\d+          # 1.234,5 (European, unambiguous)
             |\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?     # 18,500 / 18,500.00
             |\d+\.\d+)                          # 1234.5
           (?![.,]?\d)                           # 15.03.2024 is three numbers, not 15.03
          |\d+)
        (?P<suffix>st|nd|rd|th|[kK])?
        (?:(?!\w)|(?=[aApP]\.?[mM](?!\w)))       # 2pm is 2 and pm; 5kg is a word
    )
    |(?P<cjk>[{_CJK}])
    |(?P<word>{_LETTERS}+(?:[{_APOSTROPHES}]{_LETTERS}+)*)
    """,
    re.VERBOSE,
)
_DROP = str.maketrans("", "", _APOSTROPHES)

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_ABBREVIATIONS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                  "dec")


def tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """(canonical token, start, end) for each token of `text`, in order; start and end are
    indexes into `text` itself."""
    for m in _TOKEN.finditer(text):
        raw = m.group()
        if m.group("num") is not None:
            yield _number(raw, m.group("suffix")), m.start(), m.end()
            continue
        canon = _word(raw)
        if canon:
            yield canon, m.start(), m.end()


def canonical(text: str) -> tuple[str, ...]:
    """The canonical tokens of a short string (a value)."""
    return tuple(t for t, _, _ in tokens(text))


#: Longer words are not cached (a pasted blob's words rarely repeat, and would stay in memory).
_CACHED = 64


def _word(raw: str) -> str:
    return _canonical_word(raw) if len(raw) > _CACHED else _cached_word(raw)


@lru_cache(maxsize=1 << 16)  # words repeat: caching their forms halves the text's pass
def _cached_word(raw: str) -> str:
    return _canonical_word(raw)


def _canonical_word(raw: str) -> str:
    if raw.isascii():  # what the steps below come to for ASCII, without a list of characters
        return raw.lower().translate(_DROP)
    decomposed = unicodedata.normalize("NFKD", raw)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", kept).casefold().translate(_DROP)


def _number(raw: str, suffix: str | None) -> str:
    digits = raw[: len(raw) - len(suffix)] if suffix else raw
    if "," in digits and "." in digits and digits.rfind(",") > digits.rfind("."):
        digits = digits.replace(".", "").replace(",", ".")  # 1.234,5
    else:
        digits = digits.replace(",", "")
    try:
        number = Decimal(digits)
    except InvalidOperation:  # the pattern only lets digits through; kept for safety
        return digits
    if suffix in ("k", "K"):
        number *= 1000
    return _decimal_text(number)


def _decimal_text(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def exact_text(value: Any) -> str:
    """The value as it would be written: a string as is, a number by `str`, a date or time in
    ISO."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def stands_alone(text: str, start: int, end: int) -> bool:
    """Whether a number, date or time value written at `text[start:end]` is not part of a
    longer number: 5 is not in 15, 1.5, -5 or 50; 18500 is not in 18500.75 (normalised
    compares that by value). A string value has no such rule: it is found wherever it is
    written, "son" inside "Jason" too."""
    before, after = text[max(0, start - 2) : start], text[end : end + 2]
    if before[-1:].isdigit() or after[:1].isdigit():
        return False
    if before[-1:] in (".", ",") and before[:1].isdigit() and len(before) == 2:
        return False
    if after[:1] in (".", ",") and after[1:2].isdigit():
        return False
    sign = before[-1:] == "-" and (len(before) < 2 or not before[0].isalnum())
    return not sign


def temporal(value: Any) -> dt.date | dt.time | None:
    """The date, datetime or time a value stands for (a strict ISO string counts), else
    None."""
    if isinstance(value, dt.date | dt.time):
        return value
    if not isinstance(value, str) or len(value) > 40:
        return None
    text = value.strip()
    if not text[:1].isdigit():  # every ISO date and time starts with a digit
        return None
    for pattern, parse in _ISO:
        if pattern.fullmatch(text):
            try:
                return parse(text)
            except ValueError:  # 2024-02-30
                return None
    return None


_ISO = (
    (re.compile(r"\d{4}-\d{2}-\d{2}"), dt.date.fromisoformat),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?"),
     dt.datetime.fromisoformat),
    (re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"), dt.time.fromisoformat),
)


def value_forms(value: Any) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """The canonical token sequences that count as `value`, in groups tried in order: a later
    group is looked for only when no sequence of an earlier one is in the text."""
    when = temporal(value)
    if isinstance(when, dt.datetime):
        times = _time_forms(when.time())
        return (tuple(d + t for d in _date_forms(when) for t in times),)
    if isinstance(when, dt.date):
        return (_date_forms(when), _yearless_forms(when))
    if isinstance(when, dt.time):
        return (_time_forms(when),)
    if isinstance(value, float):
        return ((canonical(_decimal_text(Decimal(repr(value)))),),)
    return ((canonical(exact_text(value)),),)


def _date_forms(day: dt.date) -> tuple[tuple[str, ...], ...]:
    y, m, d = str(day.year), str(day.month), str(day.day)
    yy = str(day.year % 100)
    month, abbr = _MONTHS[day.month - 1], _ABBREVIATIONS[day.month - 1]
    named = [(month, d, y), (d, month, y), (d, "of", month, y)]
    if abbr != month:
        named += [(abbr, d, y), (d, abbr, y)]
    if day.month == 9:
        named += [("sept", d, y), (d, "sept", y)]
    forms = [(y, m, d), (m, d, y), (d, m, y), *named, (m, d, yy), (d, m, yy)]
    return tuple(dict.fromkeys(forms))  # 2024-05-05 reads the same both ways


def _yearless_forms(day: dt.date) -> tuple[tuple[str, ...], ...]:
    d = str(day.day)
    month, abbr = _MONTHS[day.month - 1], _ABBREVIATIONS[day.month - 1]
    forms = [(month, d), (d, month), (d, "of", month), (abbr, d), (d, abbr)]
    return tuple(dict.fromkeys(forms))


def _time_forms(t: dt.time) -> tuple[tuple[str, ...], ...]:
    h, mi, s = str(t.hour), str(t.minute), str(t.second)
    twelve = str(t.hour % 12 or 12)
    half = "am" if t.hour < 12 else "pm"
    forms = [(h, mi, s)] if t.second else [(h, mi), (h, mi, "0")]
    forms += [(twelve, mi, half), (twelve, mi, half[0], "m")]
    if not t.minute and not t.second:
        forms += [(twelve, half), (twelve, half[0], "m")]
    return tuple(forms)


def fuzzy_allowed(value: Any, forms: tuple[tuple[tuple[str, ...], ...], ...]) -> bool:
    """Fuzzy matching is for text: never numbers, dates, times, values of only digits, or
    values of 3 characters or fewer."""
    if not isinstance(value, str) or len(value.strip()) <= 3 or temporal(value) is not None:
        return False
    words = [t for group in forms for form in group for t in form]
    return any(not _is_number(t) for t in words)


def _is_number(token: str) -> bool:
    return token.lstrip("-").replace(".", "", 1).isdigit()
