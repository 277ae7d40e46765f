"""Starting a run: the path every run takes, from the app's pages and the CLI alike.

`stream_extraction` checks that the text fits, queues for a free slot of the local model, then
streams with the read timeout. `extraction_factory` wraps it for a Runner (connecting in the
runner's thread, with a client that Stop can interrupt), and `start_run` starts the Runner.
Every error a run reports is redacted with the key it used.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from engine.runs.runner import (
    WAIT_SLOT,
    CancelEvent,
    Runner,
    SharedIndexes,
    StreamFactory,
    notice,
)
from engine.runs.spec import SOURCE_EXTRACT, RunGroup, RunSpec
from engine.stream.snapshot import Snapshot


def local_server(provider: Any, model: str) -> Any | None:
    """The local model's server (`engine.local.server.LocalServer`) for a local provider."""
    if provider.kind != "local":
        return None
    from engine.local.server import ensure_server

    return ensure_server(model or provider.default_model)


def stream_extraction(
    text: str,
    schema: Any,
    provider: Any,
    model: str,
    mode: str,
    max_tokens: int | None = None,
    *,
    client: Any,
    cancel: threading.Event | None = None,
    on_wait: Callable[[], None] | None = None,
    on_slot: Callable[[], None] | None = None,
    system: str | None = None,
) -> Iterator[Snapshot]:
    """The snapshots of one extraction, the way the app and the CLI run it.

    First the text must fit the model (`TextTooLong` otherwise, counted exactly for the local
    model, before anything is queued). Then, for the local model, the request holds one of its
    slots: when none is free, `on_wait()` is called and the run queues (Stop, i.e. `cancel`,
    ends the wait at once); `on_slot()` is called once a slot is held. The read timeout
    starts only then, so time spent queued never counts towards it. `system` replaces the
    default instruction (a saved schema brings its own)."""
    from engine.llm.budget import check_fits
    from engine.llm.extract import build_request, extract

    server = local_server(provider, model)
    request = build_request(text, schema, model=model, mode=mode, system=system,
                            max_tokens=max_tokens)
    check_fits(request, kind=provider.kind, model=model, max_tokens=max_tokens, server=server)
    slot = server.slot(cancel, on_wait) if server is not None else contextlib.nullcontext()
    with slot:
        if on_slot is not None:
            on_slot()
        yield from extract(text, schema, client=client, model=model, mode=mode,
                           system=system, max_tokens=max_tokens, cancel=cancel)


def extraction_factory(
    text: str, schema: Any, provider: Any, model: str, mode: str, max_tokens: int | None = None,
    *, system: str | None = None,
) -> StreamFactory:
    """A factory that connects to the provider and streams the extraction in the runner's
    thread (so starting the local model, a slow connect or a queue never blocks the view)."""

    def factory(cancel: threading.Event) -> Iterator[Snapshot]:
        from engine.providers import client_for

        client, close = stoppable_client(client_for(provider, model), cancel)
        try:
            yield from stream_extraction(
                text, schema, provider, model, mode, max_tokens, client=client, cancel=cancel,
                on_wait=lambda: notice(cancel, WAIT_SLOT), on_slot=lambda: notice(cancel, None),
                system=system,
            )  # fmt: skip
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

    http = openai.DefaultHttpxClient(timeout=client.timeout,
                                     event_hooks={"request": [on_request]})
    if isinstance(cancel, CancelEvent):
        cancel.on_set(shut)
    return client.with_options(http_client=http), http.close


def start_run(
    text: str, schema_name: str, schema: Any, provider: Any, model: str, mode: str,
    max_tokens: int | None = None, *, source: str = SOURCE_EXTRACT, who: str | None = None,
    factory: StreamFactory | None = None, schema_version: str | None = None,
    system: str | None = None, indexes: SharedIndexes | None = None,
    group: RunGroup | None = None,
) -> Runner:  # fmt: skip
    """Start an extraction in the background and return its Runner (`runner.spec` says what
    it was asked). `factory` replaces the provider's stream (tests, custom sources);
    `schema_version` names a saved schema's version, `system` is the system prompt (the
    schema's instruction; None: the default); `indexes` shares the text's index with the
    other runs given the same (a comparison's lanes); `group` the runs it was started with."""
    from engine.schemas.fields import leaves

    spec = RunSpec.for_provider(text, schema_name, schema, provider, model, mode, max_tokens,
                                source=source, who=who, schema_version=schema_version,
                                system=system, group=group)
    factory = factory or extraction_factory(text, schema, provider, model, mode, max_tokens,
                                            system=system)
    return Runner(leaves(schema), factory, secret=provider.api_key, spec=spec,
                  indexes=indexes).start()
