"""How helmforge runs on uvicorn, the same for ``helmforge serve``, each worker of
``serve --workers N`` and the tests' live servers.

- ``proxy_headers`` is off: uvicorn would believe ``X-Forwarded-For`` and ``-Proto`` from any
  peer on 127.0.0.1 (any local process, or a tunnel); the application believes them only from
  ``HELMFORGE_TRUSTED_PROXIES`` (``helmforge.api.middlewares.ClientAddressMiddleware``).
- The HTTP protocol is uvicorn's httptools one (chosen for its CPU cost), bounded: a request
  line and headers of at most ``MAX_HEADER_BYTES`` (httptools itself accepts any size; 1 MB
  headers were accepted), to arrive within ``HEADER_TIMEOUT`` seconds of the connection or of
  the request's first byte (a client that trickles headers, or sends none, is disconnected).
  Larger headers answer 431 and the connection closes *lingering*: the server stops writing
  and reads what the client still sends (at most ``LINGER_TIMEOUT`` seconds and
  ``LINGER_BYTES``) before it closes; closing at once, with the client's bytes unread, made
  the kernel reset the connection, and a client could lose the answer.
  Request bodies are bounded in size and read time by ``BodyLimitMiddleware``; idle kept-alive
  connections close after ``KEEP_ALIVE_TIMEOUT`` seconds.
"""

from __future__ import annotations

__all__ = [
    "HEADER_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "LINGER_BYTES",
    "LINGER_TIMEOUT",
    "MAX_HEADER_BYTES",
    "bounded_http_protocol",
    "uvicorn_options",
]

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT = 30.0
KEEP_ALIVE_TIMEOUT = 5
LINGER_TIMEOUT = 2.0
LINGER_BYTES = 4 * 1024 * 1024


def bounded_http_protocol(
    *,
    max_header_bytes: int = MAX_HEADER_BYTES,
    header_timeout: float = HEADER_TIMEOUT,
    linger_timeout: float = LINGER_TIMEOUT,
    linger_bytes: int = LINGER_BYTES,
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a bound on header bytes (431 above it) and on the
    time to send them."""

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _header_bytes = 0
        _header_timer: asyncio.TimerHandle | None = None
        _lingering = False
        _discarded = 0

        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(header_timeout, self._close)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _close(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            # The first byte of a request: its headers are due within the timeout (an idle
            # kept-alive connection is uvicorn's keep-alive timeout's to close).
            super().on_message_begin()
            self._header_bytes = 0
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            if self._lingering:
                self._discarded += len(data)
                if self._discarded > linger_bytes:
                    self._close()
                return
            super().data_received(data)
            # Still waiting for the end of the headers after this chunk: all of it was
            # request line and headers (httptools hands a header over only once it is
            # complete, so its callbacks cannot count a header that never ends).
            if self._header_timer is not None and not self.transport.is_closing():
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes:
                    self._refuse_large_headers()

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

        def _refuse_large_headers(self) -> None:
            message = f"the request line and headers are larger than {max_header_bytes} bytes"
            body = message.encode("ascii")
            head = [STATUS_LINE[431]]
            for name, value in self.server_state.default_headers:
                head.extend([name, b": ", value, b"\r\n"])
            head.extend(
                [
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n\r\n",
                ]
            )
            self.transport.write(b"".join(head) + body)
            # Lingering close: the answer goes out, then end-of-file; what the client still
            # sends is read and dropped until it closes (eof_received), LINGER_BYTES or the
            # timer.
            self._lingering = True
            self._disarm_header_timer()
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self._header_timer = self.loop.call_later(linger_timeout, self._close)

    return BoundedHttpToolsProtocol


_PROTOCOL = bounded_http_protocol()


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` or ``uvicorn.Config``, besides the app and where
    it listens."""
    return {
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
        "http": _PROTOCOL,
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
    }
