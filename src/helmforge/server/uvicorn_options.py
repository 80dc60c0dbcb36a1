"""How helmforge runs on uvicorn, the same for ``helmforge serve``, each worker of
``serve --workers N`` and the tests' live servers.

- ``proxy_headers`` is off: uvicorn would believe ``X-Forwarded-For`` and ``-Proto`` from any
  peer on 127.0.0.1 (any local process, or a tunnel); the application believes them only from
  ``HELMFORGE_TRUSTED_PROXIES`` (``helmforge.api.middlewares.ClientAddressMiddleware``).
- The HTTP protocol is uvicorn's httptools one (chosen for its CPU cost), bounded: a request
  line and headers of at most ``MAX_HEADER_BYTES`` (httptools itself accepts any size; 1 MB
  headers were accepted), to arrive within ``HEADER_TIMEOUT`` seconds of the connection or of
  the request's first byte (a client that trickles headers, or sends none, is disconnected).
  Request bodies are bounded in size and read time by ``BodyLimitMiddleware``; idle kept-alive
  connections close after ``KEEP_ALIVE_TIMEOUT`` seconds.
"""

from __future__ import annotations

__all__ = [
    "HEADER_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "MAX_HEADER_BYTES",
    "bounded_http_protocol",
    "uvicorn_options",
]

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT = 30.0
KEEP_ALIVE_TIMEOUT = 5


def bounded_http_protocol(
    *, max_header_bytes: int = MAX_HEADER_BYTES, header_timeout: float = HEADER_TIMEOUT
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a bound on header bytes and on the time to send them."""

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _header_bytes = 0
        _too_large = False
        _header_timer: asyncio.TimerHandle | None = None

        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(header_timeout, self._headers_timed_out)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_timed_out(self) -> None:
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
            super().data_received(data)
            # Still waiting for the end of the headers after this chunk: all of it was
            # request line and headers (httptools hands a header over only once it is
            # complete, so its callbacks cannot count a header that never ends).
            if self._header_timer is not None and not self.transport.is_closing():
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes:
                    self._too_large = True
                    self._disarm_header_timer()
                    self.send_400_response("")

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if self._too_large:
                msg = f"the request line and headers are larger than {max_header_bytes} bytes"
            super().send_400_response(msg)

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
