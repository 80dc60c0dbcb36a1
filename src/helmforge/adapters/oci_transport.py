"""The transport under ``RegistryClient``: a total deadline and a byte budget per request.

httpx's timeouts bound each socket operation: a registry that accepts a connection and then
sends nothing, or one byte a minute, holds a request for timeout x operations x retries.
``BoundedTransport`` wraps httpx's own transport and bounds the whole exchange instead:

- a request carries the monotonic instant it must be done by (``GIVE_UP`` extension); every
  connect, write and read waits at most the time left, and a body still arriving when it
  passes is cut off (``DeadlineExceeded``);
- an answer carries a byte budget (``MAX_BODY``, default ``DEFAULT_MAX_BODY``): a declared
  ``Content-Length`` over it is refused before reading, a streamed body as soon as it passes
  it (``AnswerTooLarge``), so a registry sending a 300 MB "manifest" costs a few MiB at most.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_BODY",
    "GIVE_UP",
    "MAX_BODY",
    "AnswerTooLargeError",
    "BoundedTransport",
    "DeadlineExceededError",
]

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

GIVE_UP = "helmforge.give_up"
MAX_BODY = "helmforge.max_body"
DEFAULT_MAX_BODY = 4 << 20


class DeadlineExceededError(Exception):
    """The request's deadline passed before its answer was complete."""


class AnswerTooLargeError(Exception):
    """The answer is larger than the request's byte budget."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit


class _BoundedStream(httpx.SyncByteStream):
    def __init__(
        self,
        inner: httpx.SyncByteStream,
        *,
        request: httpx.Request,
        limit: int,
        give_up: float | None,
        clock: Callable[[], float],
    ) -> None:
        self._inner = inner
        self._request = request
        self._limit = limit
        self._give_up = give_up
        self._clock = clock

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        chunks = iter(self._inner)
        while True:
            if self._give_up is not None:
                # httpcore reads the request's timeouts again before every read: shrinking
                # them keeps one slow read from outliving the deadline.
                _clamp_timeouts(self._request, self._give_up - self._clock())
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except httpx.TimeoutException as error:
                if self._give_up is not None and self._clock() >= self._give_up:
                    raise DeadlineExceededError from error
                raise
            seen += len(chunk)
            if seen > self._limit:
                raise AnswerTooLargeError(self._limit)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _clamp_timeouts(request: httpx.Request, remaining: float) -> None:
    if remaining <= 0:
        raise DeadlineExceededError
    timeouts: dict[str, Any] = request.extensions.setdefault("timeout", {})
    for name in ("connect", "read", "write", "pool"):
        current = timeouts.get(name)
        timeouts[name] = remaining if current is None else min(float(current), remaining)


class BoundedTransport(httpx.BaseTransport):
    """Wraps ``inner`` so that every request keeps its deadline and its answer's byte budget."""

    def __init__(
        self, inner: httpx.BaseTransport, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._inner = inner
        self._clock = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        give_up: float | None = request.extensions.get(GIVE_UP)
        limit = int(request.extensions.get(MAX_BODY, DEFAULT_MAX_BODY))
        if give_up is not None:
            _clamp_timeouts(request, give_up - self._clock())
        try:
            response = self._inner.handle_request(request)
        except httpx.TimeoutException as error:
            if give_up is not None and self._clock() >= give_up:
                raise DeadlineExceededError from error
            raise
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            raise AnswerTooLargeError(limit)
        if not isinstance(response.stream, httpx.SyncByteStream):
            return response  # pragma: no cover - sync transports give sync streams
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_BoundedStream(
                response.stream, request=request, limit=limit, give_up=give_up, clock=self._clock
            ),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()
