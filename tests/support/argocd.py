"""A loopback Argo CD API stand-in that checks every request against Argo CD's swagger.json.

Each request must name a path and method of the swagger.json it is given (the tests pass the
one in the shared reference data, reached through the ``shared_data`` fixture), use only the
query parameters that operation declares, and send a body that validates against its schema
(and has no field the schema does not know). A request that does not is answered 400 and kept
in ``violations``, so a test asserts ``violations == []``. Answers are shaped as Argo CD's
gRPC gateway shapes them: ``{"error", "code", "message"}``, 401 without a valid bearer token,
403 when the token may not touch the application (a token allowed ``"*"`` gets 403 for an
application that does not exist, as Argo CD answers it), 403 "blocked by sync window" while a
window denies syncs, and FailedPrecondition "another operation is already in progress" while an
operation runs (answered 409, as DESIGN §8 describes it). ``can-i`` and ``syncwindows`` answer
from the same levers; the list operation (``GET /api/v1/applications``) answers the
Applications the token may read that match its ``selector``, ``name``, ``projects`` and
``repo``, as an ``ApplicationList``. Every Application it answers validates against
``v1alpha1Application``.

The application controller moves only when the test calls ``tick()`` (or on each request with
``auto_tick``), one step per tick: a running operation succeeds (health ``Progressing``), then
the health settles (``Healthy`` unless ``outcomes`` says otherwise; ``reconciledAt`` says when
it was found); another party's operation
ends after the ticks it was started with (never, without); an Application with
``syncPolicy.automated`` that was refreshed starts syncing to what its sources resolve to
(source 1's ``targetRevision``, and ``heads[name]`` for the Git source); an Application
``generate_later`` names appears after its ticks, as an ApplicationSet would create it. No
wall-clock time
passes anywhere: tests drive it deterministically.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema

from helmforge.core.errors import InputError
from helmforge.core.manifests.selectors import matches, parse_label_selector
from helmforge.core.schemas.openapi import openapi_definitions
from tests.support.servers import UPPER_BOUND


@dataclass
class _Operation:
    method: str
    pattern: re.Pattern[str]
    template: str
    query: frozenset[str]
    body_schema: str | None


def _operations(swagger: dict[str, Any]) -> list[_Operation]:
    operations = []
    for template, methods in swagger["paths"].items():
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        for method, spec in methods.items():
            parameters = spec.get("parameters", [])
            body = next((p for p in parameters if p["in"] == "body"), None)
            ref = body["schema"].get("$ref", "") if body else ""
            operations.append(
                _Operation(
                    method.upper(),
                    re.compile(regex + r"\Z"),
                    template,
                    frozenset(p["name"] for p in parameters if p["in"] == "query"),
                    ref.rsplit("/", 1)[-1] or None,
                )
            )
    # Literal paths before templated ones: /applications/{name}/sync is not /applications/{name}.
    return sorted(operations, key=lambda op: op.template.count("{"))


@dataclass
class ArgoCdStandIn:
    """Argo CD's API for ``applications`` on 127.0.0.1; ``tokens`` maps a token to the
    application names it may read and sync."""

    swagger_path: Path
    tokens: dict[str, set[str]]
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    url: str = ""
    # The Git commit each Application's values source resolves to (its branch head).
    heads: dict[str, str] = field(default_factory=dict)
    # How an operation of ours ends: {"phase": "Failed", "message": ...} or {"health": ...},
    # with "health_message" (the Application's) and "resource_message" (its Deployment's);
    # "stale_health": the health a reconciliation during the sync found, shown until the
    # next one (its reconciledAt before the operation's finishedAt).
    outcomes: dict[str, Mapping[str, str]] = field(default_factory=dict)
    # Applications a deny sync window blocks now.
    blocked: set[str] = field(default_factory=set)
    auto_tick: bool = False
    ticks: int = 0
    # How many more times another party's sync starts just before ours reaches the server
    # (it ends after one tick): ours then meets "another operation is already in progress".
    rivals: dict[str, int] = field(default_factory=dict)
    # The label selector of each list request (GET /api/v1/applications) answered.
    list_selectors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        swagger = json.loads(self.swagger_path.read_text(encoding="utf-8"))
        self._operations = _operations(swagger)
        self._definitions = openapi_definitions(swagger, source=str(self.swagger_path))
        self._lock = threading.RLock()
        self._foreign: dict[str, int | None] = {}
        self._refreshed: set[str] = set()
        self._generating: dict[str, tuple[int, dict[str, Any]]] = {}
        # Applications whose operation of ours succeeded and whose health settles next tick.
        self._settling: set[str] = set()

    def validator(self, definition: str) -> Any:
        root = {"$ref": f"#/$defs/{definition}", "$defs": self._definitions}
        return jsonschema.Draft202012Validator(root)

    # --- the test's levers ------------------------------------------------------------

    def add_application(self, manifest: dict[str, Any]) -> None:
        app = json.loads(json.dumps(manifest))
        app["status"] = {
            "sync": {"status": "OutOfSync", "revisions": []},
            "health": {"status": "Missing"},
        }
        self.applications[app["metadata"]["name"]] = app

    def generate_later(self, manifest: dict[str, Any], *, ticks: int) -> None:
        """An ApplicationSet controller creates this Application ``ticks`` ticks from now."""
        self._generating[manifest["metadata"]["name"]] = (ticks, manifest)

    def start_foreign_operation(self, name: str, *, ticks: int | None = None) -> None:
        """Someone else's sync runs on ``name``: it ends after ``ticks`` ticks (never, with
        None, unless ``finish_operation`` ends it)."""
        with self._lock:
            self._foreign[name] = ticks
            self.applications[name]["status"]["operationState"] = {
                "phase": "Running",
                "operation": {"sync": {"revisions": ["someone-else"]}},
                "startedAt": "2026-12-02T06:00:00Z",
            }

    def finish_operation(self, name: str, *, health: str = "Healthy") -> None:
        with self._lock:
            self._foreign.pop(name, None)
            app = self.applications[name]
            status = app["status"]
            state = status["operationState"]
            state["phase"] = "Succeeded"
            state["finishedAt"] = "2026-12-02T06:01:00Z"
            revisions = state["operation"]["sync"].get("revisions", [])
            status["sync"] = {"status": "Synced", "revisions": revisions}
            status["health"] = {"status": health}
            app.pop("operation", None)

    def tick(self) -> None:
        """One step of the application controller for every Application (see the module)."""
        with self._lock:
            self.ticks += 1
            for name, app in self.applications.items():
                self._step(name, app)
            for name, (left, manifest) in list(self._generating.items()):
                if left <= 1:
                    del self._generating[name]
                    self.add_application(manifest)
                else:
                    self._generating[name] = (left - 1, manifest)

    def _step(self, name: str, app: dict[str, Any]) -> None:
        status = app["status"]
        state = status.get("operationState") or {}
        if state.get("phase") == "Running":
            if name in self._foreign:
                left = self._foreign[name]
                if left is not None:
                    self._foreign[name] = left - 1
                    if left <= 1:
                        self.finish_operation(name)
                return
            outcome = self.outcomes.get(name, {})
            state["finishedAt"] = "2026-12-02T06:01:00Z"
            app.pop("operation", None)
            if outcome.get("phase", "Succeeded") != "Succeeded":
                state["phase"] = outcome["phase"]
                state["message"] = outcome.get("message", "one or more objects failed to apply")
                return
            state["phase"] = "Succeeded"
            state["message"] = "successfully synced (all tasks run)"
            revisions = state["operation"]["sync"].get("revisions", [])
            status["sync"] = {"status": "Synced", "revisions": revisions}
            self._settling.add(name)
            if "stale_health" in outcome:  # as a reconciliation during the sync found it
                status["health"] = {"status": outcome["stale_health"]}
                status["reconciledAt"] = "2026-12-02T06:00:30Z"
            else:
                status["health"] = {"status": "Progressing"}
                status["reconciledAt"] = state["finishedAt"]
            return
        if name in self._settling or status.get("health", {}).get("status") == "Progressing":
            self._settling.discard(name)
            self._settle(name, status)
            status["reconciledAt"] = "2026-12-02T06:02:00Z"
            return
        automated = "automated" in (app["spec"].get("syncPolicy") or {})
        if automated and name in self._refreshed:
            wanted = self._resolved(name, app)
            if wanted != status["sync"].get("revisions"):
                self._refreshed.discard(name)
                self._start(app, {"revisions": wanted}, automated=True)

    def _settle(self, name: str, status: dict[str, Any]) -> None:
        """The health the controller finds once the objects have rolled out, with the messages
        Argo CD gives: the Application's own (``health_message``) and a Deployment's
        (``resource_message``, in ``status.resources`` as the controller lists them)."""
        outcome = self.outcomes.get(name, {})
        health = outcome.get("health", "Healthy")
        status["health"] = {"status": health}
        if "health_message" in outcome:
            status["health"]["message"] = outcome["health_message"]
        if "resource_message" in outcome:
            status["resources"] = [
                {
                    "group": "apps",
                    "version": "v1",
                    "kind": "Deployment",
                    "namespace": name,
                    "name": "web",
                    "status": "Synced",
                    "health": {"status": health, "message": outcome["resource_message"]},
                },
                {
                    "version": "v1",
                    "kind": "Service",
                    "namespace": name,
                    "name": "web",
                    "status": "Synced",
                    "health": {"status": "Healthy"},
                },
            ]

    def _resolved(self, name: str, app: dict[str, Any]) -> list[str]:
        sources = app["spec"]["sources"]
        return [sources[0]["targetRevision"], self.heads.get(name, sources[1]["targetRevision"])]

    def _start(self, app: dict[str, Any], sync: dict[str, Any], *, automated: bool) -> None:
        initiated: dict[str, Any] = {"automated": True} if automated else {"username": "helmforge"}
        app["operation"] = {"sync": sync, "initiatedBy": initiated}
        app["status"]["operationState"] = {
            "phase": "Running",
            "operation": {"sync": sync},
            "startedAt": "2026-12-02T06:00:00Z",
        }

    def _can(self, token: str, name: str) -> bool:
        allowed = self.tokens.get(token, set())
        return name in allowed or "*" in allowed

    # --- serving ----------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        path, _, query_text = raw_path.partition("?")
        query = urllib.parse.parse_qs(query_text)
        operation = next(
            (op for op in self._operations if op.method == method and op.pattern.match(path)),
            None,
        )
        document: Any = None
        if body:
            try:
                document = json.loads(body)
            except ValueError:
                return self._violation(f"{method} {path}: body is not JSON")
        self.requests.append((method, path, document))
        if operation is None:
            return self._violation(f"{method} {path}: not an operation of swagger.json")
        unknown = set(query) - operation.query
        if unknown:
            return self._violation(f"{method} {path}: unknown query parameters {sorted(unknown)}")
        if operation.body_schema:
            if not isinstance(document, dict):
                return self._violation(f"{method} {path}: needs a JSON object body")
            errors = [
                e.message for e in self.validator(operation.body_schema).iter_errors(document)
            ]
            known = self._definitions[operation.body_schema].get("properties", {})
            errors += [f"unknown field {key!r}" for key in document if key not in known]
            if errors:
                return self._violation(f"{method} {path}: {'; '.join(errors)}")
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return 401, _status(16, "invalid session: token is not valid")
        can_i = re.match(r"/api/v1/account/can-i/applications/([^/]+)/([^/]+)\Z", path)
        if can_i is not None:
            _, _, target = urllib.parse.unquote(can_i.group(2)).partition("/")
            return 200, {"value": "yes" if self._can(token, target) else "no"}
        if method == "GET" and path == "/api/v1/applications":
            return self._list(token, query)
        match = re.match(r"/api/v1/applications/([^/]+)(/sync|/syncwindows)?\Z", path)
        if match is None:
            return 501, _status(12, f"the stand-in does not serve {method} {operation.template}")
        name = urllib.parse.unquote(match.group(1))
        action = "sync" if match.group(2) == "/sync" else "get"
        if not self._can(token, name):
            return 403, _status(7, f"permission denied: applications, {action}, default/{name}")
        with self._lock:
            if self.auto_tick:
                self.tick()
            app = self.applications.get(name)
            if app is None and name in self.tokens[token]:
                return 404, _status(5, f'applications.argoproj.io "{name}" not found')
            if app is None:  # Argo CD hides a missing application behind "permission denied"
                return 403, _status(7, f"permission denied: applications, {action}, default/{name}")
            if match.group(2) == "/syncwindows":
                return 200, self._windows(name)
            if match.group(2):
                if name in self.blocked:
                    return 403, _status(7, "cannot sync: blocked by sync window")
                if self.rivals.get(name):
                    self.rivals[name] -= 1
                    self.start_foreign_operation(name, ticks=1)
                state = app["status"].get("operationState") or {}
                if state.get("phase") == "Running":
                    return 409, _status(9, "another operation is already in progress")
                sync = {
                    "revisions": document.get("revisions", []),
                    "sourcePositions": document.get("sourcePositions", []),
                }
                self._start(app, sync, automated=False)
            elif "refresh" in query:
                self._refreshed.add(name)
            answer = json.loads(json.dumps(app))
        problems = [e.message for e in self.validator("v1alpha1Application").iter_errors(answer)]
        assert not problems, problems  # the stand-in itself answers as Argo CD would
        return 200, answer

    def _list(self, token: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        """``ApplicationService_List``: the Applications the token may read, narrowed by
        ``selector`` (labels), ``name``, ``projects``/``project`` and ``repo``, as Argo CD
        filters them (an invalid selector is InvalidArgument)."""
        try:
            requirements = parse_label_selector(",".join(query.get("selector", [])))
        except InputError as error:
            return 400, _status(3, f"error parsing labelSelector: {error.message}")
        projects = set(query.get("projects", []) + query.get("project", []))
        self.list_selectors.append(",".join(query.get("selector", [])))
        with self._lock:
            if self.auto_tick:
                self.tick()
            items = [
                json.loads(json.dumps(app))
                for name, app in sorted(self.applications.items())
                if self._can(token, name)
                and matches(requirements, app["metadata"].get("labels") or {})
                and (not query.get("name") or name in query["name"])
                and (not projects or app["spec"].get("project") in projects)
                and (
                    not query.get("repo")
                    or any(s.get("repoURL") in query["repo"] for s in app["spec"]["sources"])
                )
            ]
        answer = {"metadata": {"resourceVersion": str(self.ticks)}, "items": items}
        problems = [
            e.message for e in self.validator("v1alpha1ApplicationList").iter_errors(answer)
        ]
        assert not problems, problems
        return 200, answer

    def _windows(self, name: str) -> dict[str, Any]:
        window = {"kind": "deny", "schedule": "0 22 * * *", "duration": "8h", "manualSync": False}
        active = [window] if name in self.blocked else []
        answer = {"activeWindows": active, "assignedWindows": active, "canSync": not active}
        problems = [
            e.message
            for e in self.validator("applicationApplicationSyncWindowsResponse").iter_errors(answer)
        ]
        assert not problems, problems
        return answer

    def _violation(self, text: str) -> tuple[int, Any]:
        self.violations.append(text)
        return 400, _status(3, text)

    @contextlib.contextmanager
    def running(self) -> Iterator[ArgoCdStandIn]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload = owner.handle(
                    self.command, self.path, self.headers, self.rfile.read(length)
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.url = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=UPPER_BOUND)


def _status(code: int, message: str) -> dict[str, Any]:
    return {"error": message, "code": code, "message": message}
