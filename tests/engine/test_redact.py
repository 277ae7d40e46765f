"""engine.redact: one policy for keys in messages (`***`) and in stored data (same-length
masks): the same key found the same way in both."""

from __future__ import annotations

import pytest

from engine.redact import SHORT_KEY, Redactor, redact, redact_error


def test_redaction_keeps_lengths_and_catches_a_split_key() -> None:
    redact = Redactor(["sk-secret-123456"])
    assert redact.text("key sk-secret-123456!") == "key " + "*" * 16 + "!"
    assert redact.value({"sk-secret-123456": ["x sk-secret-123456"], "n": 1}) == {
        "*" * 16: ["x " + "*" * 16], "n": 1}
    split = [(1.0, "a sk-sec"), (2.0, "ret-123456 b")]
    assert redact.timeline(split) == [(1.0, "a " + "*" * 6), (2.0, "*" * 10 + " b")]
    assert Redactor().timeline(split) is split


@pytest.mark.parametrize("key", ["k1x", "  my-key-1 \n"])
def test_messages_and_stored_data_find_a_key_the_same_way(key: str) -> None:
    text = f"key {key.strip()} rejected; {key.strip()}y is fine"
    shown, stored = redact(text, key), Redactor([key]).text(text)
    assert shown.replace("***", "#") == stored.replace("*" * len(key.strip()), "#")
    assert "#" in shown.replace("***", "#")


def test_a_short_key_is_masked_only_where_it_stands_alone() -> None:
    assert len("k1x") < SHORT_KEY
    assert Redactor(["k1x"]).text("k1x and k1xy") == "*** and k1xy"
    assert redact("k1x and k1xy", "k1x") == "*** and k1xy"


def test_key_shapes_are_masked_in_messages_only() -> None:
    text = "Bearer abcdefgh from http://bob:pw@host/v1"
    assert redact(text, None) == "Bearer *** from http://***@host/v1"
    assert Redactor(["unrelated-key"]).text(text) == text  # stored text is the person's own


def test_an_errors_message_is_redacted_in_place() -> None:
    exc = ValueError("failed with sk-live-0123456789", 7)
    assert redact_error(exc, "sk-live-0123456789") is exc
    assert exc.args == ("failed with ***", 7)


def test_old_import_paths_give_the_same_objects() -> None:
    import engine
    from engine import errors
    from engine.llm import failures
    from engine.stream import errors as old

    assert old.ProviderError is errors.ProviderError is engine.ProviderError
    assert old.redact is failures.redact is redact
