"""The transport under ``RegistryClient``: a total deadline and a byte budget per request.

httpx's timeouts bound each socket operation: a registry that accepts a connection and then
sends nothing, or one byte a minute, holds a request for timeout x operations x retries.
``BoundedTransport`` wraps httpx's own transport and bounds the whole exchange instead:

- a request carries the monotonic instant it must be done by (``GIVE_UP`` extension); every
  connect, write and read waits at most the time left, and a body still arriving when it
  passes is cut off (``DeadlineExceededError``);
- an answer carries a byte budget (``MAX_BODY``, default ``DEFAULT_MAX_BODY``): a declared
  ``Content-Length`` over it is refused before reading, a streamed body as soon as it passes
  it (``AnswerTooLargeError``), so a registry sending a 300 MB "manifest" costs a few MiB at most.

Beside it, the HTTP pieces of the client's retry loop: ``RetryPolicy``, ``Retry-After`` and
the registry's error codes read from an answer.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_BODY",
    "GIVE_UP",
    "MAX_BODY",
    "AnswerTooLargeError",
    "BoundedTransport",
    "DeadlineExceededError",
    "RetryPolicy",
    "error_codes",
    "error_summary",
    "retry_after",
]

import email.utils
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
        # A HEAD answer declares the size of a body it never sends (a blob's, a manifest's).
        declared = "" if request.method == "HEAD" else response.headers.get("content-length", "")
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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries: ``attempts`` tries in all, exponential backoff from ``base_delay``
    capped at ``max_delay`` seconds (a longer ``Retry-After`` is capped too)."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        backoff = self.base_delay * (2**attempt)
        jitter: float = 0.75 + random.random() / 2  # noqa: S311 - not cryptographic
        return float(min(backoff * jitter, self.max_delay))


def error_codes(response: httpx.Response) -> set[str]:
    return error_summary(response)[0]


def error_summary(response: httpx.Response) -> tuple[set[str], str]:
    """The registry's error codes and a short description of its error body.

    Only the distribution spec's JSON errors are quoted: the first message, on one line, cut
    short, with anything credential-like masked. Any other body (a proxy's HTML page, a text
    dump that may reflect our request's headers) is described by its size and type, never
    passed on: it would reach API answers, pages and the CLI.
    """
    try:
        body = response.json()
    except ValueError:
        if not response.content:
            return set(), ""
        kind = response.headers.get("content-type", "").partition(";")[0].strip() or "untyped"
        return set(), f"a {len(response.content)}-byte {_printable(kind, 60)} body"
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return set(), ""
    codes = {
        _printable(str(e.get("code")), 60) for e in errors if isinstance(e, dict) and e.get("code")
    }
    messages = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
    return codes, (_masked(messages[0]) if messages else "")


# Credentials a registry might reflect into a message: an Authorization value, URL userinfo,
# a token or password parameter.
_CREDENTIAL = re.compile(
    r"(?i)(?:\b(?:bearer|basic)\s+)[^\s\"',]+"
    r"|(?<=://)[^/\s@]+@"
    r"|\b(?:token|access_token|password|secret)=[^\s&\"',]+"
)


def _masked(message: str) -> str:
    flat = _printable(message, 200)
    return _CREDENTIAL.sub(lambda m: "***@" if m.group().endswith("@") else "***", flat)


def _printable(text: str, limit: int) -> str:
    flat = "".join(c if c.isprintable() else " " for c in text[: limit * 2])
    return flat[:limit]


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()
