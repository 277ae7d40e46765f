"""The suite's tiers (tests/tiers.py), run on small suites of their own (pytester): a test whose
need is missing is skipped with the reason and the command that installs it, and with CI=true
any skipped test fails the run, naming each one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import postgres, tiers, ui_support

pytest_plugins = ["pytester"]

SUITE = """
import pytest

def test_runs():
    pass

@pytest.mark.browser
def test_in_a_browser():
    pass

@pytest.mark.postgres
def test_on_postgres():
    pass

@pytest.mark.local_model
def test_on_the_local_model():
    pass

def test_skips_itself():
    pytest.skip("not today")
"""


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine without Chromium, PostgreSQL and the local model."""
    import engine.providers

    monkeypatch.setattr(ui_support, "chromium_path", lambda: None)
    monkeypatch.setattr(postgres, "pg_bin", lambda: None)
    monkeypatch.setattr(engine.providers, "check",
                        lambda provider: "The embedded model runtime (xllamacpp) is not installed.")
    tiers.missing.cache_clear()
    yield
    tiers.missing.cache_clear()


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["tests.tiers"]\n')
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_what_is_missing_is_a_skip_that_says_how_to_install_it(
    suite: pytest.Pytester, nothing_installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines_random([
        "SKIPPED [[]1] test_suite.py:6: Chromium not installed: apt-get install chromium, "
        "or make test",
        "SKIPPED [[]1] test_suite.py:10: PostgreSQL not installed: apt-get install postgresql, "
        "or make test",
        "SKIPPED [[]1] test_suite.py:14: Local model not available: The embedded model runtime "
        "(xllamacpp) is not installed. (make test installs it)",
    ])
    result.stdout.no_fnmatch_line("*fail the run*")


def test_with_ci_true_a_skipped_test_fails_the_run(
    suite: pytest.Pytester, nothing_installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines([
        "*skipped tests fail the run in CI*",
        "CI=true and 4 test(s) skipped: CI runs every test, so this run fails. What each one "
        "said:",
    ])
    result.stdout.fnmatch_lines_random([
        "*test_suite.py::test_in_a_browser: Skipped: Chromium not installed*",
        "*test_suite.py::test_skips_itself: Skipped: not today",
    ])


def test_with_ci_true_a_run_without_skips_passes_and_a_failure_stays_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest('pytest_plugins = ["tests.tiers"]\n')
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    assert pytester.runpytest_inprocess("-p", "no:cacheprovider").ret == pytest.ExitCode.OK
    pytester.makepyfile(test_bad="def test_bad():\n    assert False\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.no_fnmatch_line("*skipped tests fail the run*")
