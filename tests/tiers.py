"""The suite's tiers (loaded by tests/conftest.py).

Three markers name what a test needs beyond Python: `browser` (Debian's Chromium), `local_model`
(the embedded model: xllamacpp and its weights) and `postgres` (Debian's PostgreSQL binaries;
set by tests/postgres.py on every test that uses its cluster). `make check` runs the tests that
need none of them and are not marked `processes` (tests that start and kill batch processes:
they need nothing more, but take 10-20 s each); `make test` runs everything.

Outside CI, a test whose need is missing from the machine is skipped with the reason and the
command that installs it. With CI=true a skipped test fails the run: CI must run every test.
"""

from __future__ import annotations

import functools
import os

import pytest

NEEDS = ("browser", "local_model", "postgres")


@functools.cache
def missing(need: str) -> str | None:
    """Why this machine cannot run tests marked `need` (None: it can)."""
    if need == "browser":
        from tests.ui_support import chromium_path

        if chromium_path() is None:
            return "Chromium not installed: apt-get install chromium, or make test"
    elif need == "postgres":
        from tests.postgres import pg_bin

        if pg_bin() is None:
            return "PostgreSQL not installed: apt-get install postgresql, or make test"
    elif need == "local_model":
        from engine.providers import check, local_provider

        problem = check(local_provider())
        if problem:
            return f"Local model not available: {problem} (make test installs it)"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(trylast=True)  # after `-m` deselected: ask only about what will run
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reasons = [why for need in NEEDS
                   if item.get_closest_marker(need) and (why := missing(need))]  # fmt: skip
        if reasons:
            item.add_marker(pytest.mark.skip(reason="; ".join(reasons)))


def _skipped(config: pytest.Config) -> list[pytest.TestReport]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller decides
        return
    if in_ci() and exitstatus == pytest.ExitCode.OK and _skipped(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = _skipped(config)
    if not (in_ci() and skipped):
        return
    terminalreporter.section("skipped tests fail the run in CI", red=True, bold=True)
    terminalreporter.write_line(
        f"CI=true and {len(skipped)} test(s) skipped: CI runs every test, so this run fails. "
        "What each one said:")
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        terminalreporter.write_line(f"  {report.nodeid}: {reason}")
