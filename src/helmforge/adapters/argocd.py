"""A thin Argo CD API client on httpx: read an Application's sync and health, sync it to exact
revisions. Every call has a total deadline (``BoundedTransport``), busy answers are retried a
bounded number of times, and the token never appears in an error or a log line.

Argo CD answers errors as gRPC statuses through its gateway: ``{"code", "message", "error"}``.
"Another operation is already in progress" is ``FailedPrecondition`` (code 9); the client keys
on the code and message, not on the HTTP status, which differs between gateway versions.
"""

from __future__ import annotations

__all__ = ["ApplicationState", "ArgoCdClient", "ArgoCdServer", "SyncWindows"]

import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from helmforge.adapters.oci_transport import (
    GIVE_UP,
    AnswerTooLargeError,
    BoundedTransport,
    DeadlineExceededError,
)
from helmforge.core.errors import (
    AuthenticationError,
    ExternalServiceError,
    HelmforgeError,
    InputError,
    Location,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from helmforge.core.json_codec import load_json

_log = logging.getLogger(__name__)
_FAILED_PRECONDITION = 9
_BUSY = "another operation is already in progress"
_MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class ArgoCdServer:
    """An Argo CD API server: base URL, bearer token, TLS verification and the deadline."""

    url: str
    token: str = field(repr=False)
    insecure: bool = False
    deadline_seconds: float = 30.0

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("https", "http") or not parsed.hostname or "@" in parsed.netloc:
            raise InputError(
                "the Argo CD URL must be http(s)://host[:port] without credentials",
                location=Location("argocd.url"),
            )


@dataclass(frozen=True, slots=True)
class ApplicationState:
    """What helmforge reads of an Application: sync and health, and the operation's state."""

    name: str
    sync_status: str | None
    health_status: str | None
    synced_revisions: tuple[str, ...]
    operation_phase: str | None
    operation_revisions: tuple[str, ...]
    operation_message: str | None = None
    #: Why the health is what it is: the Application's own message, else each object's that
    #: reports the same health (``Deployment web: ...``), as Argo CD words them.
    health_message: str | None = None
    #: When the controller last reconciled the Application (its health is as of then), and
    #: when the operation ended; ``None`` when Argo CD does not say (or not readably).
    reconciled_at: datetime | None = None
    operation_finished_at: datetime | None = None


def _moment(value: Any) -> datetime | None:
    """An RFC 3339 time of Argo CD's (``2026-12-02T06:01:00Z``), else ``None``."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SyncWindows:
    """An Application's sync windows now: whether a sync may start (``can_sync``) and the
    windows in force, each as ``KIND SCHEDULE for DURATION``."""

    can_sync: bool
    active: tuple[str, ...]


def _object(value: Any) -> dict[str, Any]:
    """``value`` when Argo CD answered an object there, else an empty one: a proxy or another
    version may answer any JSON, and a field of the wrong type reads as absent."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _health_message(status: dict[str, Any]) -> str | None:
    """The Application's health message, else those of its objects in the same health (the
    controller lists them in ``status.resources``; often the only ones with a message)."""
    health = _object(status.get("health"))
    if _text(health.get("message")):
        return str(health["message"])[:_MAX_MESSAGE]
    resources = status.get("resources")
    found = []
    for resource in resources if isinstance(resources, list) else []:
        own = resource.get("health") if isinstance(resource, dict) else None
        if not isinstance(own, dict) or own.get("status") != health.get("status"):
            continue
        if own.get("message"):
            found.append(
                f"{resource.get('kind', '?')} {resource.get('name', '?')}: {own['message']}"
            )
    return "; ".join(found)[:_MAX_MESSAGE] or None


def _state(document: Any, name: str) -> ApplicationState:
    status = _object(_object(document).get("status"))
    sync = _object(status.get("sync"))
    operation = _object(status.get("operationState"))
    requested = _object(_object(_object(document).get("operation")).get("sync"))
    running = _object(_object(operation.get("operation")).get("sync")) or requested
    revision = _text(sync.get("revision"))
    message = _text(operation.get("message"))
    return ApplicationState(
        name=name,
        sync_status=_text(sync.get("status")),
        health_status=_text(_object(status.get("health")).get("status")),
        synced_revisions=_texts(sync.get("revisions")) or ((revision,) if revision else ()),
        operation_phase=_text(operation.get("phase")),
        operation_revisions=_texts(running.get("revisions")),
        operation_message=message[:_MAX_MESSAGE] if message else None,
        health_message=_health_message(status),
        reconciled_at=_moment(status.get("reconciledAt")),
        operation_finished_at=_moment(operation.get("finishedAt")),
    )


class ArgoCdClient:
    """Calls one Argo CD server. ``wait`` sleeps between busy retries (tests pass a recorder)."""

    def __init__(
        self,
        server: ArgoCdServer,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], None] = time.sleep,
        busy_retries: int = 3,
    ) -> None:
        self.server = server
        self._clock = clock
        self._wait = wait
        self._busy_retries = busy_retries
        inner = transport or httpx.HTTPTransport(verify=not server.insecure)
        self._http = httpx.Client(
            base_url=server.url.rstrip("/"),
            transport=BoundedTransport(inner, clock=clock),
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=server.deadline_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ArgoCdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_application(self, name: str, *, refresh: bool = False) -> ApplicationState:
        """The Application's state; ``refresh`` asks Argo CD to compare with Git first."""
        params = {"refresh": "normal"} if refresh else {}
        document = self._call("GET", f"/api/v1/applications/{_quoted(name)}", name, params=params)
        return _state(self._application(document, name), name)

    def list_applications(
        self, selector: str, *, app_namespace: str | None = None
    ) -> list[ApplicationState]:
        """The Applications matching the label ``selector`` that the token may read
        (``GET /api/v1/applications``: Argo CD leaves out the ones its RBAC hides)."""
        params = {"selector": selector}
        if app_namespace:
            params["appNamespace"] = app_namespace
        document = self._call("GET", "/api/v1/applications", "*", params=params)
        items = _object(document).get("items")
        states = []
        for item in items if isinstance(items, list) else ():
            name = _text(_object(_object(item).get("metadata")).get("name"))
            if name is not None:
                states.append(_state(item, name))
        return states

    def can_i(self, action: str, project: str, name: str) -> bool:
        """Whether the token may do ``action`` (``get``, ``sync``) on ``project/name``; Argo CD
        answers this even for an application that does not exist."""
        subresource = _quoted(f"{project}/{name}")
        document = self._call(
            "GET", f"/api/v1/account/can-i/applications/{_quoted(action)}/{subresource}", name
        )
        return isinstance(document, dict) and document.get("value") == "yes"

    def sync_windows(self, name: str) -> SyncWindows:
        """The Application's sync windows: may a sync start now, and which windows apply."""
        document = self._call("GET", f"/api/v1/applications/{_quoted(name)}/syncwindows", name)
        document = _object(document)
        windows = document.get("activeWindows")
        active = tuple(
            f"{w.get('kind', '?')} {w.get('schedule', '?')} for {w.get('duration', '?')}"
            for w in (windows if isinstance(windows, list) else ())
            if isinstance(w, dict)
        )
        return SyncWindows(can_sync=document.get("canSync") is not False, active=active)

    def sync(
        self,
        name: str,
        *,
        revisions: Sequence[str],
        source_positions: Sequence[int],
        app_namespace: str | None = None,
    ) -> ApplicationState:
        """Sync a multi-source Application to exactly ``revisions`` (one per source position,
        1-based), retrying while another operation is in progress, within the deadline."""
        if len(revisions) != len(source_positions) or not revisions:
            raise InputError(
                "a sync names one revision per source position",
                location=Location("argocd.sync", path="revisions"),
            )
        body: dict[str, Any] = {
            "name": name,
            "revisions": list(revisions),
            # int64 travels as a JSON string through the gRPC gateway.
            "sourcePositions": [str(position) for position in source_positions],
        }
        if app_namespace:
            body["appNamespace"] = app_namespace
        give_up = self._clock() + self.server.deadline_seconds
        for attempt in range(self._busy_retries + 1):
            try:
                document = self._call(
                    "POST",
                    f"/api/v1/applications/{_quoted(name)}/sync",
                    name,
                    json=body,
                    give_up=give_up,
                )
            except UnavailableError:
                delay = min(2.0**attempt * 0.5, max(0.0, give_up - self._clock()))
                if attempt == self._busy_retries or delay <= 0:
                    raise
                _log.info("Argo CD %s: %s busy, retrying in %.1f s", self.server.url, name, delay)
                self._wait(delay)
                continue
            return _state(self._application(document, name), name)
        raise AssertionError("unreachable")  # pragma: no cover

    def _application(self, document: Any, name: str) -> dict[str, Any]:
        """``document`` when it is an Application (an object with ``metadata``), else
        ``ExternalServiceError``: whatever answered is not Argo CD's API, and waiting for it
        to report a sync would last the whole deadline."""
        if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
            return document
        raise ExternalServiceError(
            "Argo CD answered something that is not an Application (no metadata object); "
            "is the server's URL that of the Argo CD API?",
            location=Location(self.server.url, path=f"applications/{name}"),
        )

    def _call(
        self,
        method: str,
        path: str,
        name: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        give_up: float | None = None,
    ) -> Any:
        where = Location(self.server.url, path=f"applications/{name}")
        deadline = give_up if give_up is not None else self._clock() + self.server.deadline_seconds
        try:
            response = self._http.request(
                method, path, params=params, json=json, extensions={GIVE_UP: deadline}
            )
            response.read()
        except DeadlineExceededError:
            raise ExternalServiceError(
                f"Argo CD did not answer within the deadline of {self.server.deadline_seconds:g} s",
                location=where,
            ) from None
        except AnswerTooLargeError as error:
            raise ExternalServiceError(
                f"Argo CD answered more than {error.limit} bytes; an Argo CD API answers far less",
                location=where,
            ) from None
        except httpx.HTTPError as error:
            raise ExternalServiceError(
                f"Argo CD could not be reached: {type(error).__name__}", location=where
            ) from None
        if response.status_code == 200:
            try:
                return load_json(response.content, source=self.server.url)
            except InputError as error:
                # Not Argo CD's API (a login page, a proxy's answer) or not JSON it would send.
                raise ExternalServiceError(
                    f"Argo CD answered with invalid JSON ({error.message})", location=where
                ) from None
        raise self._error(response, where)

    def _error(self, response: httpx.Response, where: Location) -> HelmforgeError:
        try:
            payload = _object(load_json(response.content, source=self.server.url))
        except InputError:
            payload = {}
        message = str(payload.get("message") or payload.get("error") or "").replace(
            self.server.token, "***"
        )[:_MAX_MESSAGE]
        status = response.status_code
        if payload.get("code") == _FAILED_PRECONDITION and _BUSY in message:
            return UnavailableError(f"Argo CD is busy: {message}", location=where)
        if status == 401:
            return AuthenticationError(
                "Argo CD refused the token (expired, revoked or for another server)",
                location=where,
            )
        if status == 403:
            return PermissionDeniedError(f"Argo CD denied it: {message}", location=where)
        if status == 404:
            return NotFoundError(f"Argo CD has no such application: {message}", location=where)
        return ExternalServiceError(f"Argo CD answered {status}: {message}", location=where)


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")
