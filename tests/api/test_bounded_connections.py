"""Bounded resources per connection: header size, the time to send headers, the time to send
a body (``helmforge serve``'s uvicorn options and the body reader)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn
from fastapi import FastAPI

from helmforge.api.middlewares import BodyLimitMiddleware
from helmforge.server.app import state_of
from helmforge.server.uvicorn_options import bounded_http_protocol, uvicorn_options
from tests.support.apps import make_app
from tests.support.servers import UPPER_BOUND, free_port, serve


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    application, _ = make_app(f"sqlite:///{tmp_path / 'h.db'}", tmp_path / "data")
    yield application
    state_of(application).engine.dispose()


def _exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` and read until the server closes; a reset counts as a refusal."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=UPPER_BOUND) as connection:
        try:
            connection.sendall(request)
            while chunk := connection.recv(65536):
                answer += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    return answer


def test_1_mb_of_headers_answers_431_and_the_server_keeps_serving(app: FastAPI) -> None:
    with serve(app) as url:
        port = int(url.rsplit(":", 1)[1])
        huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
        # Closed at once with the client's bytes unread, the connection was reset and the
        # answer (a 400 then) could be lost; every try must read the whole 431.
        for _ in range(5):
            answer = _exchange(port, huge)
            assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large"), answer[:200]
            assert answer.endswith(b"larger than 65536 bytes"), answer[-200:]
        fine = _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert fine.startswith(b"HTTP/1.1 200"), fine[:200]


@contextmanager
def _serving(app: FastAPI, protocol: Any) -> Iterator[int]:
    port = free_port()
    options = {**uvicorn_options(), "http": protocol}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    # server.started flips once it listens; the bounded join below is only a safety net.
    while not server.started and thread.is_alive():
        started.wait(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=UPPER_BOUND)


def test_headers_over_the_bound_answer_431_naming_it(app: FastAPI) -> None:
    with _serving(app, bounded_http_protocol(max_header_bytes=1024)) as port:
        answer = _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000)
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer
        assert b"\r\nconnection: close\r\n" in answer
        assert answer.endswith(b"\r\n\r\nthe request line and headers are larger than 1024 bytes")


def test_an_invalid_request_still_answers_400(app: FastAPI) -> None:
    with _serving(app, bounded_http_protocol(max_header_bytes=1024)) as port:
        answer = _exchange(port, b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer


def _send_until_refused(connection: socket.socket) -> None:
    while True:
        connection.sendall(b"a" * 65536)


def test_a_client_that_keeps_sending_after_431_is_disconnected(app: FastAPI) -> None:
    protocol = bounded_http_protocol(max_header_bytes=1024, linger_timeout=0.2)
    with (
        _serving(app, protocol) as port,
        socket.create_connection(("127.0.0.1", port), timeout=UPPER_BOUND) as connection,
    ):
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000)
        answer = b""
        while chunk := connection.recv(65536):  # the answer, then end-of-file
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 431"), answer
        # The server reads and drops what still comes, then closes: without the linger
        # bound this would send for ever (UPPER_BOUND fails the test).
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            _send_until_refused(connection)


def test_a_client_that_never_finishes_its_headers_is_disconnected(app: FastAPI) -> None:
    with _serving(app, bounded_http_protocol(header_timeout=0.2)) as port:
        # Without the bound these reads would wait for ever (UPPER_BOUND fails the test).
        assert _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") == b""
        assert _exchange(port, b"") == b""


@pytest.mark.anyio
async def test_a_stalled_request_body_answers_408() -> None:
    reached: list[bool] = []

    async def inner(_scope: Any, _receive: Any, _send: Any) -> None:
        reached.append(True)

    stalled = anyio.Event()  # never set: the client sent the headers, then nothing
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await stalled.wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = BodyLimitMiddleware(inner, max_bytes=1000, read_timeout=0.05)
    scope = {"type": "http", "path": "/api/v1/tokens", "query_string": b"", "headers": []}
    await middleware(scope, receive, send)
    assert sent[0]["status"] == 408
    assert b"did not arrive within 0.05 seconds" in sent[1]["body"]
    assert reached == []
