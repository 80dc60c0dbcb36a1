"""ASGI middlewares: the request body reader, and per-request logs and metrics.

The body reader reads at most ``max_bytes`` before any route parses anything, and answers 413
otherwise (a declared Content-Length over the limit is refused without reading). A JSON body
(``application/json`` or ``+json``, the ones FastAPI parses) must then pass
``helmforge.core.json_codec.load_json``: NaN, infinities, overlong integers, lone surrogates
and deep nesting are refused here, once for every route, before FastAPI's own ``json.loads``
(which accepts them all) sees the body.
"""

from __future__ import annotations

__all__ = ["BodyLimitMiddleware", "ClientAddressMiddleware", "HttpMetrics", "ObservationMiddleware"]

import ipaddress
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helmforge.core.errors import InputError, http_status_for
from helmforge.core.json_codec import load_json

_log = logging.getLogger("helmforge.http")
API_PREFIX = "/api/v1"
#: Seconds a request body may take to arrive in full (10 MiB at 350 KB/s).
BODY_READ_TIMEOUT = 30.0


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 before the application reads them,
    JSON bodies that ``load_json`` refuses with its error's status (422, 413 for nesting),
    bodies not received within ``read_timeout`` seconds with 408 (a client that trickles or
    stalls its body holds a connection and a buffer, not a request thread), and URLs holding a
    NUL character with 422."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, read_timeout: float = BODY_READ_TIMEOUT
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def _refuse(
        self, send: Send, *, status: int = 413, error: str = "TooLargeError", message: str = ""
    ) -> None:
        body = json.dumps(
            {
                "error": error,
                "message": message or f"the request body is larger than {self.max_bytes} bytes",
            }
        ).encode()  # ASCII: a message can hold no surrogate that would fail to encode
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            # No name, version or filter holds a NUL; PostgreSQL could not even compare one.
            await self._refuse(
                send, status=422, error="InputError", message="the URL contains a NUL character"
            )
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self.read_timeout) as reading:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    await self._refuse(send)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        if reading.cancelled_caught:
            await self._refuse(
                send,
                status=408,
                error="InputError",
                message=f"the request body did not arrive within {self.read_timeout:g} seconds",
            )
            return
        body = b"".join(chunks)
        if body and _is_json(scope):
            try:
                load_json(body, source="the request body")
            except InputError as error:
                await self._refuse(
                    send,
                    status=http_status_for(error),
                    error=type(error).__name__,
                    message=str(error),
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI would parse this body as JSON (its content type says so)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return False


class ClientAddressMiddleware:
    """Settle who the client is, once, for logs and sign-in throttling alike: the connection's
    peer, unless the peer is one of ``trusted_proxies`` (CIDRs). Then ``X-Forwarded-For`` is
    read from the right, each trusted proxy handing over to the address it forwarded for,
    and the first address not trusted is the client; and ``X-Forwarded-Proto`` (TLS ended at
    the proxy) sets the scheme. Anyone else's headers are ignored: any client can write them.

    It replaces ``scope["client"]``, so run the server with uvicorn's own proxy headers off.
    """

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[str]) -> None:
        self.app = app
        self.networks = tuple(ipaddress.ip_network(item, strict=False) for item in trusted_proxies)

    def _trusted(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)

    def client_of(self, peer: str, forwarded: Sequence[bytes]) -> str:
        """The client address for a connection from ``peer`` with these X-Forwarded-For
        header values."""
        hops = [hop.strip() for value in forwarded for hop in value.decode("latin-1").split(",")]
        address = peer
        for hop in reversed(hops):
            if not self._trusted(address):
                break
            try:
                address = str(ipaddress.ip_address(hop))
            except ValueError:
                break  # written by whoever came before the proxy: not an address to believe
        return address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if self.networks and scope["type"] == "http" and client and self._trusted(client[0]):
            forwarded = [value for name, value in scope["headers"] if name == b"x-forwarded-for"]
            protos = [value for name, value in scope["headers"] if name == b"x-forwarded-proto"]
            scope = dict(scope)
            if forwarded:
                scope["client"] = (self.client_of(str(client[0]), forwarded), 0)
            if protos:
                proto = protos[-1].decode("latin-1").rsplit(",", 1)[-1].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto
        await self.app(scope, receive, send)


class HttpMetrics:
    """Prometheus collectors of one application (its own registry, so apps stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "helmforge_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "helmforge_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


class ObservationMiddleware:
    """Count and time every request; log one line each (JSON when configured so)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            elapsed = time.perf_counter() - started
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            if scope.get("path", "").startswith(API_PREFIX) and not path.startswith(API_PREFIX):
                path = API_PREFIX + path  # routes of included routers know only their own part
            method = scope.get("method", "")
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(elapsed)
            client = scope.get("client")
            _log.info(
                "%s %s %s",
                method,
                scope.get("path", ""),
                status,
                extra={
                    "http": {
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    }
                },
            )
