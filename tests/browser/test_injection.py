"""Real-browser test (issue #7 item 10): text from a server is shown as text, never rendered as
Markdown. A server whose model list answers 500 with an image and a phishing link must not make
the browser fetch the image or show a clickable link, on the Extract page or on Home."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.ui_support import (
    chromium_page,
    custom_server_env,
    open_extract,
    screenshot,
    streamlit_app,
)

pytestmark = [
    pytest.mark.browser,
]

PIXEL = (  # a 1x1 PNG, so a rendered <img> would really load
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


class HostileServer:
    """/v1/models answers HTTP 500 with a Markdown payload (an OpenAI-style error body);
    /pixel.png serves an image and records that it was asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self._httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.pixel_url = f"http://127.0.0.1:{self.port}/pixel.png"
        self.body = f"![t]({self.pixel_url}) [Re-enter your key](http://evil.example/)"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                if self.path.rstrip("/").endswith("/models"):
                    error = json.dumps({"error": {"message": outer.body, "type": "server_error"}})
                    self._send(500, "application/json", error.encode())
                elif self.path.startswith("/pixel.png"):
                    self._send(200, "image/png", PIXEL)
                else:
                    self._send(404, "text/plain", b"not here")

            def _send(self, status: int, kind: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def app(hostile: HostileServer) -> Iterator[str]:
    env = custom_server_env(hostile.base_url, model="some-model")
    with streamlit_app(env) as url:
        yield url


def injected(page: Any, hostile: HostileServer) -> dict[str, Any]:
    """What of the payload became live HTML: images and links pointing where it said."""
    return page.evaluate(
        """([pixel]) => ({
            imgs: [...document.querySelectorAll('img')].map(i => i.src)
                     .filter(s => s.includes(pixel) || s.includes('evil.example')),
            links: [...document.querySelectorAll('a')].map(a => a.href)
                      .filter(h => h.includes('evil.example') || h.includes(pixel)),
        })""",
        [hostile.pixel_url],
    )


def assert_shown_as_text(page: Any, hostile: HostileServer, lead: str) -> None:
    message = page.get_by_text(lead).first
    message.wait_for(timeout=30_000)
    assert injected(page, hostile) == {"imgs": [], "links": []}
    assert hostile.body in message.inner_text()  # the server's words, literally
    assert not any(p.startswith("/pixel.png") for p in hostile.paths), hostile.paths


def test_model_list_error_is_text_not_markdown(app: str, hostile: HostileServer) -> None:
    with chromium_page() as page:
        open_extract(page, app)
        assert_shown_as_text(page, hostile, "Could not list this provider's models")
        screenshot(page, "e2e-injection-extract")
        page.goto(app, wait_until="domcontentloaded")
        assert_shown_as_text(page, hostile, "Not reachable")
        screenshot(page, "e2e-injection-home")
    assert any(p.rstrip("/").endswith("/models") for p in hostile.paths)  # it was asked
