"""Shared helpers for the app's browser tests and the UI latency bench: start `streamlit run
app.py` on a free 127.0.0.1 port, launch Debian's Chromium through Playwright, and watch field
states change in the page (each field header carries `st-key-fs_<lane>-<field>__<state>__<n>`,
each field box `st-key-fsbox_<lane>-<field>`: the keys of `ui/keys.py`)."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ui.keys import EXTRACT_KEYS, RunKeys

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(
            url + "/_stcore/health", timeout=2
        ) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"streamlit did not become healthy at {url}")


@contextlib.contextmanager
def streamlit_app(env: dict[str, str] | None = None, script: str = "app.py") -> Iterator[str]:
    """Run the app on a free port (127.0.0.1 only) and yield its URL; stop it afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fieldstream-e2e-") as data_dir:
        full_env = {
            **os.environ,
            "FIELDSTREAM_DATA_DIR": data_dir,
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        log = open(Path(data_dir) / "streamlit.log", "wb")  # noqa: SIM115 - closed below
        cmd = [
            sys.executable, "-m", "streamlit", "run", script,
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
            "--server.maxUploadSize", str(upload_limit_mb(full_env)),
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            yield url
        finally:
            _stop(proc)
            log.close()


def upload_limit_mb(env: dict[str, str]) -> int:
    """Streamlit's upload limit (whole MB) from the app's own, FIELDSTREAM_MAX_FILE_MB, as
    `make run` sets it: the browser refuses a bigger file before the app reads it."""
    from engine import settings

    return max(1, math.ceil(settings.max_file_bytes(env) / 2**20))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


#: Counts the app's finished script runs from now on: window.__fs_runs goes up each time the
#: app's `data-test-script-state` turns to notRunning (installed once per page load).
RUNS_JS = r"""
() => {
  if (window.__fs_runs !== undefined) return;
  window.__fs_runs = 0;
  new MutationObserver((muts) => {
    for (const m of muts) {
      if (m.target.getAttribute('data-test-script-state') === 'notRunning'
          && m.oldValue !== 'notRunning') window.__fs_runs++;
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
}
"""

#: Browsers open for the whole test session (tests/e2e.py): `chromium_page` opens its page in
#: the newest one instead of starting a Chromium of its own.
SHARED_BROWSERS: list[Any] = []


@contextlib.contextmanager
def chromium_browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed (make chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def chromium_page(width: int = 1500, height: int = 1100) -> Iterator[Any]:
    """A Playwright page in a context of its own (its own cookies: a new app session), in the
    session's shared Chromium when there is one, else in a Chromium started for it."""
    with contextlib.ExitStack() as stack:
        browser = (SHARED_BROWSERS[-1] if SHARED_BROWSERS
                   else stack.enter_context(chromium_browser()))
        context = browser.new_context(viewport={"width": width, "height": height})
        stack.callback(context.close)
        yield context.new_page()


def after_rerun(page: Any, action: Callable[[], object], timeout: float = 30_000) -> None:
    """Do `action`, which makes the app run its script again, and wait until that run has
    finished (a state, not a time: the app says its script is not running, after a run that
    ended since the action)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(RUNS_JS)
    before = page.evaluate("() => window.__fs_runs")
    action()
    try:
        page.wait_for_function(
            "n => window.__fs_runs > n && document.querySelector('[data-testid=\"stApp\"]')"
            "?.getAttribute('data-test-script-state') === 'notRunning'", arg=before,
            timeout=timeout / 3)
    except PlaywrightTimeout:
        # Streamlit folded the rerun into one already under way, so no new end was counted
        # (seen once in a full run): then the app being idle is the state to wait for.
        wait_idle(page, timeout * 2 / 3)


def wait_idle(page: Any, timeout: float = 30_000) -> None:
    """Wait until the app's script is not running (a run's live view has stopped polling)."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'", timeout=timeout)


def box_selector(field: str, lane: str = EXTRACT_KEYS.lane) -> str:
    """The CSS selector of a field's box in a lane (the Extract page's by default)."""
    return ".st-key-" + RunKeys(lane).box(field)


#: Records, in page time (Date.now(), ms since the epoch), every field state class that
#: appears: window.__fs_events = [[t, lane, field_slug, state], ...].
WATCH_JS = r"""
() => {
  if (window.__fs_events) return;
  window.__fs_events = [];
  const seen = new Set();
  const scan = (root) => {
    const els = root.querySelectorAll ? root.querySelectorAll('[class*="st-key-fs_"]') : [];
    const t = Date.now();
    for (const el of els) {
      for (const c of el.classList) {
        const m = /^st-key-fs_([a-z][a-z0-9]*)-(.+)__([a-z]+)__\d+$/.exec(c);
        if (!m) continue;
        const k = m[1] + '|' + m[2] + '|' + m[3];
        if (!seen.has(k)) { seen.add(k); window.__fs_events.push([t, m[1], m[2], m[3]]); }
      }
    }
  };
  new MutationObserver((muts) => {
    for (const mu of muts) { scan(mu.target.parentNode || mu.target); }
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                              attributeFilter: ['class']});
  scan(document);
}
"""


def install_watch(page: Any) -> None:
    page.evaluate(WATCH_JS)


def field_events(page: Any, lane: str = EXTRACT_KEYS.lane) -> list[tuple[float, str, str]]:
    """[(seconds since the epoch, field slug, state)] of one lane (the Extract page's by
    default), in the order the browser saw them."""
    return [(t / 1000.0, slug, state) for t, seen_lane, slug, state
            in page.evaluate("window.__fs_events") if seen_lane == lane]


def first_seen(events: list[tuple[float, str, str]], state: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for t, slug, st in events:
        if st == state and slug not in out:
            out[slug] = t
    return out


def open_extract(page: Any, url: str) -> None:
    page.goto(url + "/Extract", wait_until="domcontentloaded")
    page.get_by_role("button", name="Extract").wait_for(timeout=30_000)


def fill_text(page: Any, text: str) -> None:
    """Type `text` into the text to extract from, and wait for the rerun that takes it."""
    area = page.get_by_role("textbox", name="Text to extract from", exact=True)
    area.wait_for(timeout=30_000)
    if area.input_value() == text:
        return  # nothing changes: no rerun comes

    def commit() -> None:
        area.fill(text)
        area.press("Tab")  # commit the value before clicking Extract

    after_rerun(page, commit)


def select_option(page: Any, label: str, option: str) -> None:
    """Pick `option` (not the one picked now) in the Streamlit select box labelled `label`,
    and wait for the rerun that follows the pick."""

    def pick() -> None:
        page.get_by_role("combobox", name=label, exact=True).click()
        page.get_by_role("option", name=option, exact=True).click()

    after_rerun(page, pick)


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page (Streamlit scrolls inside its main section, so the viewport is
    stretched to the content's height first)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size or {"width": 1500, "height": 1100}
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], "
        "[data-testid=stAppViewContainer], section')].map(e => e.scrollHeight), 600)"
    )
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 12000)})
    # laid out again at the new size: two animation frames have passed
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def custom_server_env(base_url: str, *, model: str = "replay-model", key: str = "test-key",
                      **extra: str) -> dict[str, str]:
    """The app's environment for a browser test: the "Custom server" provider at `base_url`,
    preselected, and no OpenAI key from the machine."""
    return {
        "FIELDSTREAM_BASE_URL": base_url,
        "FIELDSTREAM_MODEL": model,
        "FIELDSTREAM_DEFAULT_PROVIDER": "Custom server",
        "FIELDSTREAM_API_KEY": key,
        "OPENAI_API_KEY": "",
        **extra,
    }
