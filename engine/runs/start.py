"""Starting a run: the path every run takes, from the app's pages and the CLI alike.

`start_run` takes the run's place with its provider's limiter (`runs.limits`: the local
model's slots, or a limit per server); `stream_extraction` checks that the text fits, then
streams with the read timeout. `extraction_factory` wraps it for a Runner (connecting in the
runner's thread, with a client that Stop can interrupt), and `start_run` starts the Runner.
A run is asked for by one `RunSpec`; its request travels down as one `RequestSpec`
(`RunSpec.request`).
Every error a run reports is redacted with the key it used.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from engine.runs.runner import (
    CancelEvent,
    Runner,
    SharedIndexes,
    StreamFactory,
)
from engine.runs.spec import RunSpec
from engine.stream.snapshot import Snapshot

if TYPE_CHECKING:
    from engine.llm.request import RequestSpec


def stream_extraction(
    request: RequestSpec,
    provider: Any,
    *,
    client: Any,
    cancel: threading.Event | None = None,
) -> Iterator[Snapshot]:
    """The snapshots of one extraction, the way the app and the CLI run it: first the text
    must fit the model (`TextTooLong` otherwise, counted exactly for the local model), then
    the request streams with the read timeout. A run gets here once its provider's limiter
    let it in (`start_run`), so time spent in line never counts towards the timeout."""
    from engine.llm.budget import check_fits, check_length
    from engine.llm.extract import build_request, stream_request
    from engine.runs.limits import local_server
    from engine.settings import max_text_chars

    check_length(request.text, max_text_chars())
    server = local_server(provider, request.model)
    check_fits(build_request(request), kind=provider.kind, model=request.model,
               max_tokens=request.max_tokens, server=server)
    yield from stream_request(request, client=client, cancel=cancel)


def extraction_factory(request: RequestSpec, provider: Any) -> StreamFactory:
    """A factory that connects to the provider and streams the extraction in the runner's
    thread (so starting the local model, a slow connect or a queue never blocks the view)."""

    def factory(cancel: threading.Event) -> Iterator[Snapshot]:
        from engine.providers import client_for

        client, close = stoppable_client(client_for(provider, request.model), cancel)
        try:
            yield from stream_extraction(request, provider, client=client, cancel=cancel)
        finally:
            close()

    return factory


def stoppable_client(client: Any, cancel: threading.Event) -> tuple[Any, Callable[[], None]]:
    """A copy of an `openai.OpenAI` client with its own connection, whose socket is shut down
    when `cancel` is set: a read blocked on a silent server (a model still reading the
    prompt, a stalled stream) returns at once instead of at the next chunk.
    Returns (client, close)."""
    import openai

    sockets: list[socket.socket] = []

    def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                sockets.append(sock)

    def on_request(request: Any) -> None:
        request.extensions["trace"] = trace

    def shut() -> None:
        for sock in list(sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    http = openai.DefaultHttpxClient(timeout=client.timeout, verify=tls_context(),
                                     event_hooks={"request": [on_request]})
    if isinstance(cancel, CancelEvent):
        cancel.on_set(shut)
    return client.with_options(http_client=http), http.close


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every run's own connection: building one loads the CA bundle
    (~25 ms of CPU), which a batch of short documents paid once per document."""
    from openai._base_client import httpx2

    return httpx2.create_ssl_context()


def start_run(
    spec: RunSpec, provider: Any, *, factory: StreamFactory | None = None,
    indexes: SharedIndexes | None = None, on_wait: Callable[[str | None], None] | None = None,
    wrap: Callable[[StreamFactory], StreamFactory] | None = None,
    on_part: Callable[[str], None] | None = None, run_id: str | None = None,
) -> Runner:  # fmt: skip
    """Start the extraction `spec` asks for on `provider` (whose key it uses; `spec` is
    `RunSpec.for_provider(...)` of that provider) in the background and return its Runner.
    The run takes its place with the provider's limiter (`runs.limits`): beyond the limit it
    waits in line, holding no thread, and says so (`on_wait(what)` too: WAIT_SLOT / WAIT_TURN,
    then None when its turn comes). `factory` replaces the provider's stream (tests, custom
    sources; the CLI's printing wrapper); `indexes` shares the text's index with the other
    runs given the same (a comparison's lanes). A text that does not fit the model (or
    chunking `always`) runs split (`engine.runs.chunked`): each part through the limiter.
    `wrap` wraps the provider's stream (of the run, or of each part: the CLI's printing);
    `on_part(line)` hears each part of a split run end ("chunk 3 of 7: done · 4 values");
    `run_id` names the run (a batch's document: its workflow id), else a new uuid."""
    from engine.runs.chunked import split_needed
    from engine.runs.limits import provider_limiter
    from engine.schemas.fields import leaves

    if spec.provider != provider.name:
        raise ValueError(f"The spec names the provider {spec.provider!r}, "
                         f"not {provider.name!r}.")
    limiter, waits_for = provider_limiter(provider, spec.model)
    wrap = wrap or (lambda f: f)
    if factory is None and split_needed(spec, provider):
        return _start_split(spec, provider, limiter, waits_for, on_wait, wrap, on_part,
                            run_id)
    factory = factory or wrap(extraction_factory(spec.request, provider))
    runner = Runner(leaves(spec.schema), factory, secret=provider.api_key, spec=spec,
                    indexes=indexes, run_id=run_id)
    if on_wait is not None:
        runner.cancel.on_notice(on_wait)
    return runner.start(limiter, waits_for)


def _start_split(
    spec: RunSpec, provider: Any, limiter: Any, waits_for: str,
    on_wait: Callable[[str | None], None] | None,
    wrap: Callable[[StreamFactory], StreamFactory], on_part: Callable[[str], None] | None,
    run_id: str | None,
) -> Runner:  # fmt: skip
    """A text too long for one request (or chunking `always`): a `ChunkedRunner` whose parts
    take their places with the provider's limiter."""
    from engine.runs.chunked import ChunkedRunner, plan_parts
    from engine.schemas.fields import leaves

    runner = ChunkedRunner(
        leaves(spec.schema), spec, plan=lambda: plan_parts(spec, provider),
        part_factory=lambda part: wrap(extraction_factory(part.request, provider)),
        limiter=limiter, waits_for=waits_for, secret=provider.api_key, on_part=on_part,
        stagger=provider.kind == "local",  # its slots read prompts on the same cores
        run_id=run_id,
    )  # fmt: skip
    if on_wait is not None:
        runner.cancel.on_notice(on_wait)
    return runner.start()
