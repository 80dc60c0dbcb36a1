"""An OCI distribution client for pushing and reading Helm charts (httpx, HTTP/1.1).

One ``RegistryClient`` per registry keeps one connection pool alive for every push to it and
is safe to share between threads. It speaks anonymous, basic and bearer-token auth (the token
flow from the ``WWW-Authenticate`` challenge, fetching a fresh token when one expires),
retries 429/5xx and lost connections a bounded number of times honouring ``Retry-After``,
and restarts an upload whose session the registry lost. Each request, with its retries and
its token round trips, has a total ``deadline``, and every answer a byte budget
(``adapters.oci_transport``): a registry that hangs or floods costs bounded time and memory.

Errors are ``helmforge.core.errors`` classes; none carries a password or token: those are sent
in headers only and never formatted into messages or log lines.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_DEADLINE",
    "ManifestRead",
    "RegistryClient",
    "RetryPolicy",
    "is_chart_manifest",
]

import functools
import json
import logging
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from helmforge.adapters.oci_auth import RegistryAuth
from helmforge.adapters.oci_transport import (
    DEFAULT_MAX_BODY,
    GIVE_UP,
    MAX_BODY,
    AnswerTooLargeError,
    BoundedTransport,
    DeadlineExceededError,
    RetryPolicy,
    error_codes,
    error_summary,
    retry_after,
)
from helmforge.core.errors import (
    AuthenticationError,
    ConflictError,
    ExternalServiceError,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.core.oci.artifacts import CHART_LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, sha256_digest
from helmforge.core.oci.references import Registry

_log = logging.getLogger("helmforge.oci")

_MANIFEST_ACCEPT = ", ".join(
    [
        MANIFEST_MEDIA_TYPE,
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_UPLOAD_LOST_CODES = frozenset({"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"})
_MAX_MANIFEST = DEFAULT_MAX_BODY
_MAX_BLOB = 64 << 20  # the largest chart archive helmforge reads (adapters.archives)
DEFAULT_DEADLINE = 30.0
"""Seconds one registry request may take in all: connecting, sending, answering, retries."""
_MAX_TAG_PAGES = 1000


@dataclass(frozen=True, slots=True)
class ManifestRead:
    """A manifest read back: its bytes, digest and decoded JSON."""

    content: bytes
    digest: str
    media_type: str
    data: Mapping[str, Any]


class _UploadLostError(Exception):
    """The registry forgot the upload session (or the answer to its last request got lost)."""


@functools.cache
def _public_trust() -> ssl.SSLContext:
    """httpx's default trust (the certifi bundle), loaded once per process: loading it takes
    about 30 ms, which a server publishing one chart per request would pay every time."""
    return httpx.create_ssl_context(trust_env=False)


class _TlsOnDemand(httpx.BaseTransport):
    """The pools of a plain-HTTP registry: its own requests go through a pool that holds no
    trust store (a context that trusts nothing, so it could never accept a certificate); the
    public trust (``_public_trust``, ~30 ms to load: a tenth of a CLI push of published charts)
    is loaded only when a request goes to HTTPS, as a redirect to blob storage may."""

    def __init__(self, pool: Callable[[ssl.SSLContext], httpx.HTTPTransport]) -> None:
        self._pool = pool
        self._plain = pool(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        self._tls: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https":
            return self._plain.handle_request(request)
        with self._lock:
            if self._tls is None:
                self._tls = self._pool(_public_trust())
            tls = self._tls
        return tls.handle_request(request)

    def close(self) -> None:
        self._plain.close()
        if self._tls is not None:
            self._tls.close()


class RegistryClient:
    """Talks to one registry; share one instance across threads, ``close()`` when done."""

    def __init__(
        self,
        registry: Registry,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        deadline: float = DEFAULT_DEADLINE,
        max_connections: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``sleep`` waits between retries and ``clock`` (seconds) times cached tokens; tests
        pass their own, so that none waits on the machine's speed or the wall clock."""
        # The registry, its credentials with it, is the auth's: one place to read either.
        self._auth = RegistryAuth(registry, clock=clock, send=self._send, count=self._count)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._deadline = deadline
        self._base = registry.base_url
        # Parsed once: httpx parses and validates a URL in pure Python, every character.
        self._base_url = httpx.URL(self._base)
        self._authority = registry.reference.authority
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )

        def pool(verify: ssl.SSLContext) -> httpx.HTTPTransport:
            return httpx.HTTPTransport(
                verify=verify, http1=True, http2=False, limits=limits, trust_env=False
            )

        inner: httpx.BaseTransport
        if transport is not None:
            inner = transport
        elif registry.plain_http:
            inner = _TlsOnDemand(pool)
        elif registry.ca_pem:
            try:
                inner = pool(ssl.create_default_context(cadata=registry.ca_pem))
            except (ssl.SSLError, ValueError) as e:
                raise ExternalServiceError(
                    f"the CA bundle for {self._authority} is not valid PEM ({type(e).__name__})"
                ) from None
        else:
            inner = pool(_public_trust())
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=BoundedTransport(inner),
            trust_env=False,
        )
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    @property
    def registry(self) -> Registry:
        """The registry this client talks to (with the credentials it sends)."""
        return self._auth.registry

    @registry.setter
    def registry(self, registry: Registry) -> None:
        self._auth.registry = registry

    def __repr__(self) -> str:
        return f"RegistryClient({self._base!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    # --- reads ----------------------------------------------------------------------

    def get_manifest(
        self, repository: str, reference: str, *, actions: str = "pull"
    ) -> ManifestRead | None:
        """The manifest at a tag or digest, or ``None`` when the repository or tag is absent.

        ``actions="pull,push"`` before a push reuses the push token (one token per chart).
        """
        response = self._request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            actions=actions,
            headers={"Accept": _MANIFEST_ACCEPT},
            accept={200, 404},
        )
        if response.status_code == 404:
            return None
        content = response.content
        if len(content) > _MAX_MANIFEST:
            raise ExternalServiceError(f"{repository}:{reference}: manifest over 4 MiB")
        digest = sha256_digest(content)
        if reference.startswith("sha256:") and reference != digest:
            raise ExternalServiceError(
                f"{repository}@{reference}: the registry sent content with digest {digest}"
            )
        try:
            data = json.loads(content)
        except ValueError:
            raise ExternalServiceError(f"{repository}:{reference}: manifest is not JSON") from None
        if not isinstance(data, dict):
            raise ExternalServiceError(f"{repository}:{reference}: manifest is not an object")
        media_type = str(data.get("mediaType") or response.headers.get("content-type", ""))
        return ManifestRead(content=content, digest=digest, media_type=media_type, data=data)

    def manifest_digest(
        self, repository: str, reference: str, *, actions: str = "pull"
    ) -> str | None:
        """The digest of the manifest at a tag, or ``None`` when the repository or tag is absent.

        Asked with HEAD: the registry's ``Docker-Content-Digest`` answers it and no manifest
        crosses the wire (a re-push of published charts sends nothing else). A registry that
        names no sha256 digest there is asked with GET, and the bytes it sends are hashed.
        """
        response = self._request(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            actions=actions,
            headers={"Accept": _MANIFEST_ACCEPT},
            accept={200, 404},
        )
        if response.status_code == 404:
            return None
        named = str(response.headers.get("docker-content-digest", ""))
        if _SHA256_DIGEST.fullmatch(named):
            return named
        manifest = self.get_manifest(repository, reference, actions=actions)
        return None if manifest is None else manifest.digest

    def get_blob(self, repository: str, digest: str) -> bytes:
        """A blob's bytes, checked against ``digest``; ``NotFoundError`` when absent."""
        response = self._request(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            repository=repository,
            actions="pull",
            accept={200},
            follow_redirects=True,
            max_body=_MAX_BLOB,
        )
        if sha256_digest(response.content) != digest:
            raise ExternalServiceError(f"{repository}@{digest}: blob content has another digest")
        return response.content

    def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether the repository holds the blob (HEAD)."""
        response = self._request(
            "HEAD",
            f"/v2/{repository}/blobs/{digest}",
            repository=repository,
            actions="pull,push",
            accept={200, 404},
        )
        return response.status_code == 200

    def list_tags(self, repository: str, *, page_size: int = 100) -> list[str]:
        """Every tag of a repository, following ``Link`` pagination; ``[]`` when it is absent."""
        tags: list[str] = []
        url: str | None = f"/v2/{repository}/tags/list?n={page_size}"
        for _ in range(_MAX_TAG_PAGES):
            if url is None:
                return tags
            response = self._request(
                "GET", url, repository=repository, actions="pull", accept={200, 404}
            )
            if response.status_code == 404:
                return tags
            try:
                page = response.json()
            except ValueError:
                raise ExternalServiceError(f"{repository}: tag list is not JSON") from None
            tags.extend(str(t) for t in (page.get("tags") or []))
            next_link = response.links.get("next", {}).get("url")
            url = str(next_link) if next_link else None
        raise ExternalServiceError(f"{repository}: tag list has more than {_MAX_TAG_PAGES} pages")

    def check_access(self) -> None:
        """One cheap authenticated request: ``GET /v2/``, the distribution API's version
        check, through the same challenge and token flow as every other request. Raises
        ``AuthenticationError``/``PermissionDeniedError`` (credentials refused) or
        ``ExternalServiceError`` (unreachable, TLS, deadline)."""
        # No repository scope: a token for the registry itself is what /v2/ asks for. A lost
        # connection is not retried: the test says how the registry answers now.
        self._request(
            "GET",
            "/v2/",
            repository="",
            actions="",
            accept={200},
            scope="",
            retry_transport=False,
        )

    # --- writes ---------------------------------------------------------------------

    def push_blob(
        self, repository: str, digest: str, data: bytes, *, check_exists: bool = True
    ) -> bool:
        """Upload a blob unless present; ``True`` when bytes were sent.

        A lost upload session, a lost answer or a dropped connection restarts the upload
        (bounded by the retry policy).
        """
        if check_exists and self.blob_exists(repository, digest):
            self._count("blobs_skipped")
            return False
        abandoned: list[str] = []
        try:
            for attempt in range(self._retry.attempts):
                location = ""
                try:
                    location = self._start_upload(repository)
                    self._finish_upload(repository, location, digest, data)
                except _UploadLostError:
                    self._count("uploads_restarted")
                    if location:
                        abandoned.append(location)
                    if self.blob_exists(repository, digest):
                        self._count("blobs_uploaded")
                        return True
                    if attempt + 1 < self._retry.attempts:
                        self._sleep(self._retry.delay(attempt))
                    continue
                self._count("blobs_uploaded")
                return True
        finally:
            for location in abandoned:
                self._cancel_upload(repository, location)
        raise ExternalServiceError(
            f"{repository}@{digest}: upload failed {self._retry.attempts} times"
        )

    def _cancel_upload(self, repository: str, location: str) -> None:
        """Best effort: free an abandoned upload session so it leaves no orphan behind."""
        try:
            self._request(
                "DELETE",
                str(self._base_url.join(location)),
                repository=repository,
                actions="pull,push",
                accept={202, 204, 404},
                retry_transport=False,
            )
        except (ExternalServiceError, NotFoundError, PermissionDeniedError) as e:
            _log.info("%s: abandoned upload not cancelled (%s)", repository, type(e).__name__)
        else:
            self._count("uploads_cancelled")

    def _start_upload(self, repository: str) -> str:
        response = self._request(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            repository=repository,
            actions="pull,push",
            headers={"Content-Length": "0"},
            accept={202},
        )
        location = str(response.headers.get("location", ""))
        if not location:
            raise ExternalServiceError(f"{repository}: upload started without a Location")
        return location

    def _finish_upload(self, repository: str, location: str, digest: str, data: bytes) -> None:
        url = self._base_url.join(location).copy_merge_params({"digest": digest})
        try:
            response = self._request(
                "PUT",
                url,
                repository=repository,
                actions="pull,push",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
                accept={201, 204, 404},
                retry_transport=False,
            )
        except ExternalServiceError as e:
            if isinstance(e.__cause__, httpx.TransportError):
                raise _UploadLostError from None
            raise
        if response.status_code == 404:
            if error_codes(response) & _UPLOAD_LOST_CODES or not error_codes(response):
                raise _UploadLostError
            self._raise_for(response, f"{repository}@{digest}")
        echoed = response.headers.get("docker-content-digest")
        if echoed and echoed != digest:
            raise ExternalServiceError(
                f"{repository}: the registry stored digest {echoed}, expected {digest}"
            )

    def put_manifest(
        self, repository: str, tag: str, manifest: bytes, *, media_type: str = MANIFEST_MEDIA_TYPE
    ) -> str:
        """Point ``tag`` at ``manifest`` (its blobs must be pushed first); returns its digest."""
        self._request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            repository=repository,
            actions="pull,push",
            content=manifest,
            headers={"Content-Type": media_type},
            accept={201, 204},
        )
        self._count("manifests_pushed")
        return sha256_digest(manifest)

    # --- the request loop -----------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        repository: str,
        actions: str,
        accept: set[int],
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry_transport: bool = True,
        follow_redirects: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        scope: str | None = None,
    ) -> httpx.Response:
        scope = f"repository:{repository}:{actions}" if scope is None else scope
        fresh = False
        what = f"{method} {repository or url}"
        # One deadline for the request with its retries and its token round trips.
        give_up = time.monotonic() + self._deadline
        # Credentials go to the registry itself only, never to another host a Location names.
        target, base = self._absolute(url), self._base_url
        own_host = (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)
        for _ in range(4):
            request_headers = dict(headers or {})
            if own_host:
                request_headers.update(self._auth.headers(scope))
            response = self._send(
                method,
                target,
                headers=request_headers,
                content=content,
                retry_transport=retry_transport,
                follow_redirects=follow_redirects,
                what=what,
                give_up=give_up,
                max_body=max_body,
            )
            if response.status_code != 401:
                if response.status_code in accept:
                    return response
                self._raise_for(response, what)
            sent_basic = request_headers.get("Authorization", "").startswith("Basic ")
            fresh = self._auth.answer_challenge(
                response,
                scope=scope,
                fresh=fresh,
                what=what,
                sent_basic=sent_basic,
                give_up=give_up,
            )
        raise AuthenticationError(
            f"{self._authority} refused every token the token service issued ({what})"
        )

    def _send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str],
        content: bytes | None,
        what: str,
        give_up: float,
        retry_transport: bool = True,
        follow_redirects: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> httpx.Response:
        """One request with bounded retries on lost connections, 429 and 5xx, done by the
        monotonic instant ``give_up`` (``ExternalServiceError`` naming the registry after)."""
        attempts = self._retry.attempts
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                response = self._client.request(
                    method,
                    self._absolute(url),
                    headers=headers,
                    content=content,
                    follow_redirects=follow_redirects,
                    extensions={GIVE_UP: give_up, MAX_BODY: max_body},
                )
            except DeadlineExceededError:
                self._count("deadlines_exceeded")
                raise self._deadline_error(what) from None
            except AnswerTooLargeError as e:
                raise ExternalServiceError(
                    f"{self._authority}: {what}: the answer is {e}; refused unread"
                ) from None
            except httpx.TransportError as e:
                self._count("connection_errors")
                _log.info("%s: %s, attempt %d/%d", what, type(e).__name__, attempt + 1, attempts)
                if "CERTIFICATE_VERIFY_FAILED" in str(e):
                    raise ExternalServiceError(
                        f"{self._authority}: the TLS certificate is not trusted: give the "
                        "registry's CA bundle (--ca-file)"
                    ) from e
                if last or not retry_transport:
                    raise ExternalServiceError(
                        f"{self._authority}: {what} failed: {type(e).__name__}"
                    ) from e
                self._pause(self._retry.delay(attempt), give_up, what)
                continue
            self._count("requests")
            _log.debug("%s %s -> %d", method, what, response.status_code)
            if response.status_code == 429 or response.status_code >= 500:
                self._count(f"status_{response.status_code}")
                if last:
                    return response
                self._pause(self._retry.delay(attempt, retry_after(response)), give_up, what)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, delay: float, give_up: float, what: str) -> None:
        """Wait before a retry, unless the retry could not start before the deadline."""
        if time.monotonic() + delay >= give_up:
            raise self._deadline_error(what)
        self._sleep(delay)

    def _deadline_error(self, what: str) -> ExternalServiceError:
        return ExternalServiceError(
            f"registry {self._authority}: {what} did not complete within its "
            f"{self._deadline:g} s deadline (the registry does not answer, or too slowly)"
        )

    def _absolute(self, url: str | httpx.URL) -> httpx.URL:
        return self._base_url.join(url) if isinstance(url, str) else url

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        codes, message = error_summary(response)
        detail = f"{status} {'/'.join(sorted(codes)) or response.reason_phrase}"
        if message:
            detail += f": {message}"
        if status == 412 or "immutable" in message.lower() or "IMMUTABLE" in "".join(codes):
            raise ConflictError(
                f"{what}: the registry refuses to change an immutable tag ({detail})"
            )
        if status in (401, 403) or "DENIED" in codes:
            raise PermissionDeniedError(f"denied: {what} ({detail})")
        if status == 404:
            raise NotFoundError(f"{what}: not found ({detail})")
        if status == 409:
            raise ConflictError(f"{what}: {detail}")
        raise ExternalServiceError(f"{self._authority}: {what} failed ({detail})")


def is_chart_manifest(manifest: ManifestRead) -> bool:
    """Whether a manifest read back has Helm's chart layer."""
    layers = manifest.data.get("layers")
    return isinstance(layers, list) and any(
        isinstance(layer, dict) and layer.get("mediaType") == CHART_LAYER_MEDIA_TYPE
        for layer in layers
    )
