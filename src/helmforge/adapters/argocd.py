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

from helmforge.adapters.oci_transport import GIVE_UP, BoundedTransport, DeadlineExceededError
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


def _health_message(status: dict[str, Any]) -> str | None:
    """The Application's health message, else those of its objects in the same health (the
    controller lists them in ``status.resources``; often the only ones with a message)."""
    health = status.get("health") or {}
    if not isinstance(health, dict):
        return None
    if health.get("message"):
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
    status = document.get("status") or {} if isinstance(document, dict) else {}
    sync = status.get("sync") or {}
    operation = status.get("operationState") or {}
    requested = (document.get("operation") or {}).get("sync") or {}
    running = (operation.get("operation") or {}).get("sync") or requested
    return ApplicationState(
        name=name,
        sync_status=sync.get("status"),
        health_status=(status.get("health") or {}).get("status"),
        synced_revisions=tuple(
            sync.get("revisions") or ([sync["revision"]] if sync.get("revision") else [])
        ),
        operation_phase=operation.get("phase"),
        operation_revisions=tuple(running.get("revisions") or ()),
        operation_message=(
            str(operation["message"])[:_MAX_MESSAGE] if operation.get("message") else None
        ),
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
        return _state(document, name)

    def list_applications(
        self, selector: str, *, app_namespace: str | None = None
    ) -> list[ApplicationState]:
        """The Applications matching the label ``selector`` that the token may read
        (``GET /api/v1/applications``: Argo CD leaves out the ones its RBAC hides)."""
        params = {"selector": selector}
        if app_namespace:
            params["appNamespace"] = app_namespace
        document = self._call("GET", "/api/v1/applications", "*", params=params)
        items = document.get("items") if isinstance(document, dict) else None
        states = []
        for item in items or ():
            metadata = item.get("metadata") if isinstance(item, dict) else None
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if isinstance(name, str):
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
        document = document if isinstance(document, dict) else {}
        active = tuple(
            f"{w.get('kind', '?')} {w.get('schedule', '?')} for {w.get('duration', '?')}"
            for w in document.get("activeWindows") or ()
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
            return _state(document, name)
        raise AssertionError("unreachable")  # pragma: no cover

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
        except httpx.HTTPError as error:
            raise ExternalServiceError(
                f"Argo CD could not be reached: {type(error).__name__}", location=where
            ) from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise ExternalServiceError(
                    "Argo CD answered with invalid JSON", location=where
                ) from None
        raise self._error(response, where)

    def _error(self, response: httpx.Response, where: Location) -> HelmforgeError:
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        payload = payload if isinstance(payload, dict) else {}
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
