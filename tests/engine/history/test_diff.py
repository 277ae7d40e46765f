"""engine.history.diff: one walk by path over two results, normalised leaves, a verdict per
path (same / different / only in A / only in B)."""

from __future__ import annotations

from engine.history.diff import (
    DIFFERENT,
    ONLY_A,
    ONLY_B,
    SAME,
    compare_results,
    normalise,
    summary,
)


def verdicts(a: object, b: object) -> dict[str, str]:
    return {d.path: d.verdict for d in compare_results(a, b)}


def test_paths_walk_objects_and_lists() -> None:
    a = {"users": [{"name": "Ann", "tags": ["x"]}], "n": 1}
    b = {"users": [{"name": "Ann", "tags": ["x", "y"]}, {"name": "Bo"}], "n": 1}
    assert verdicts(a, b) == {
        "users[0].name": SAME, "users[0].tags[0]": SAME, "users[0].tags[1]": ONLY_B,
        "users[1].name": ONLY_B, "n": SAME,
    }  # fmt: skip


def test_text_ignores_case_whitespace_and_curly_quotes_numbers_their_format() -> None:
    assert verdicts({"a": " Grand  Tech\nArena "}, {"a": "grand tech arena"}) == {"a": SAME}
    assert verdicts({"b": "18,500"}, {"b": 18500}) == {"b": SAME}
    assert verdicts({"b": "18500.0"}, {"b": 18500}) == {"b": SAME}
    assert verdicts({"b": 18500.5}, {"b": "18,500.5"}) == {"b": SAME}
    assert verdicts({"b": 18500}, {"b": 18501}) == {"b": DIFFERENT}
    assert verdicts({"c": True}, {"c": 1}) == {"c": DIFFERENT}  # a flag is not a number
    assert normalise("1,2,3") == "1,2,3"  # not a thousands pattern: stays text
    assert verdicts({"d": "George A. O’Toole"}, {"d": "george a. o'toole"}) == {"d": SAME}
    assert verdicts({"d": "“Acme”"}, {"d": '"Acme"'}) == {"d": SAME}
    assert verdicts({"d": "O’Toole"}, {"d": "OToole"}) == {"d": DIFFERENT}


def test_missing_and_null_are_alike_and_only_in_one_side_is_said() -> None:
    assert verdicts({"a": None}, {}) == {"a": SAME}
    assert verdicts({"a": 1}, {"a": None}) == {"a": ONLY_A}
    assert verdicts({}, {"a": "x"}) == {"a": ONLY_B}


def test_whole_answers_that_are_not_objects() -> None:
    assert verdicts(None, None) == {"(whole answer)": SAME}
    assert verdicts([1, 2], [1]) == {"[0]": SAME, "[1]": ONLY_A}
    assert verdicts({"a": [1]}, {"a": "1"}) == {"a": DIFFERENT}  # a list is not its text


def test_summary_counts_each_verdict() -> None:
    diffs = compare_results({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 3, "d": 4})
    assert summary(diffs) == {SAME: 1, DIFFERENT: 1, ONLY_A: 1, ONLY_B: 1}


def test_a_text_that_is_wholly_a_date_is_that_date() -> None:
    spellings = ["2025-03-03", "2025-3-3", "2025/03/03", "March 3, 2025", "march 3 2025",
                 "3 March 2025", "Mar 3 2025", "3 Mar. 2025", "3-Mar-2025", "Monday, March 3, 2025",
                 "Mon 3 Mar 2025", "March 3rd, 2025", "3rd March 2025", "3rd of March, 2025",
                 "  MARCH  3,\n2025 "]
    for text in spellings:
        assert normalise(text) == "2025-03-03", text
        assert verdicts({"d": text}, {"d": "2025-03-03"}) == {"d": SAME}, text
    assert normalise("Sept. 30, 2024") == normalise("30 September 2024") == "2024-09-30"
    assert normalise("1 May 2024") == "2024-05-01"
    assert normalise("29 Feb 2024") == "2024-02-29"  # a leap year


def test_dates_that_differ_or_are_not_wholly_dates_stay_apart() -> None:
    unequal = [("March 3, 2025", "March 4, 2025"), ("3 March 2025", "3 March 2024"),
               ("2025-03-03", "2025-04-03"), ("March 3, 2025", "May 3, 2025"),
               ("03/04/2025", "2025-04-03"), ("03/04/2025", "2025-03-04")]
    for a, b in unequal:
        assert verdicts({"d": a}, {"d": b}) == {"d": DIFFERENT}, (a, b)
    # ambiguous (day or month first?), not a day, not only a date, a wrong weekday: text
    for text in ["03/04/2025", "3.4.2025", "March 2025", "Due March 3, 2025",
                 "2025-03-03T10:00", "February 30, 2025", "2025-13-01", "2025-02-29",
                 "Friday, March 3, 2025", "2025-03/03", "3 Marchh 2025"]:
        assert normalise(text) == " ".join(text.split()).casefold(), text
    assert normalise("2025") == 2025  # a bare year is a number
