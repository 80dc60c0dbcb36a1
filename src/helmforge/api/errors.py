"""The one place where helmforge errors become HTTP responses.

Body: ``{"error": <class>, "message": <text>, "problems": [{message, line, path}],
"errors": [{path, message}], "current": <state>, "current_revision", "diff"}`` (``problems``
and ``errors`` for input errors with several problems, ``current`` for a stale template edit,
``current_revision`` and ``diff`` for an instance changed since the revision an edit was made
on). The status comes from ``helmforge.core.errors.HTTP_STATUS``, the one table the web
pages share. Bad input never answers 500.

FastAPI's own validation errors (422) get the same body, plus FastAPI's ``detail`` list for
clients written against it, but never the submitted ``input``: it may be a password. A locked
SQLite database (another process holds the write lock past the busy timeout) answers 503 with
``Retry-After``. Error bodies are written as ASCII JSON, so a lone surrogate that reached a
message cannot make the error handler itself fail.
"""

from __future__ import annotations

__all__ = ["RETRY_AFTER_SECONDS", "error_body", "install_error_handlers"]

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError

from helmforge.core.errors import (
    HelmforgeError,
    InputError,
    Location,
    UnavailableError,
    http_status_for,
)
from helmforge.services.instance_values import StaleInstanceError
from helmforge.services.template_store import StaleRevisionError

_log = logging.getLogger("helmforge.api")

#: What a 503 asks the client to wait: a write lock is held for a transaction, not minutes.
RETRY_AFTER_SECONDS = 2


class _ErrorResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        # ensure_ascii: escapes instead of failing on a lone surrogate; allow_nan stays on so
        # that no value in a message can turn an error answer into a 500.
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_body(error: HelmforgeError) -> dict[str, Any]:
    """The JSON body describing ``error``."""
    body: dict[str, Any] = {"error": type(error).__name__, "message": str(error)}
    if isinstance(error, InputError) and error.problems:
        body["problems"] = [
            {
                "message": problem.message,
                "line": problem.location.line if problem.location else None,
                "path": problem.location.path if problem.location else None,
            }
            for problem in error.problems
        ]
        body["errors"] = [
            {
                "path": (problem.location.path if problem.location else None) or "$",
                "message": problem.message,
            }
            for problem in error.problems
        ]
    if isinstance(error, StaleRevisionError):
        body["current"] = error.current.as_json()
    if isinstance(error, StaleInstanceError):
        body["current_revision"] = error.current_revision
        body["diff"] = error.diff
    return body


def _response(request: Request, error: HelmforgeError) -> JSONResponse:
    status = http_status_for(error)
    if status >= 500:
        _log.warning("%s %s: %s", request.method, request.url.path, error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return _ErrorResponse(error_body(error), status_code=status, headers=headers or None)


async def _handle(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HelmforgeError)
    return _response(request, error)


async def _handle_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # Only where and what: FastAPI's "input" (and "ctx", which can quote it) may hold a
    # password (POST /users) or a whole document.
    detail = [
        {"type": item.get("type"), "loc": list(item.get("loc", ())), "msg": item.get("msg")}
        for item in error.errors()
    ]
    problems = tuple(
        InputError(str(item["msg"]), location=Location(path=_dotted(item["loc"])))
        for item in detail
    )
    summary = "; ".join(f"{problem.location}: {problem.message}" for problem in problems)
    body = error_body(InputError(f"invalid request: {summary}", problems=problems))
    body["detail"] = detail
    return _ErrorResponse(body, status_code=422)


def _dotted(loc: list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "(request)"


async def _handle_refused_value(request: Request, error: Exception) -> JSONResponse:
    # A safety net: inputs are checked before they reach the database, but a value the
    # database still refuses (a NUL byte, an overlong text) is the caller's input, not a 500.
    _log.warning(
        "%s %s: the database refused a value: %s",
        request.method,
        request.url.path,
        type(getattr(error, "orig", None) or error).__name__,
    )
    return _ErrorResponse(
        {"error": "InputError", "message": "the database refused a value of this request"},
        status_code=422,
    )


async def _handle_database_unavailable(request: Request, error: Exception) -> JSONResponse:
    reason = str(getattr(error, "orig", None) or error).splitlines()[0]
    if "locked" not in reason and "busy" not in reason:
        raise error  # any other operational failure is ours to fix: a 500 with its traceback
    _log.warning("%s %s: %s", request.method, request.url.path, reason)
    return _response(
        request, UnavailableError("the database is locked by another process; retry in a moment")
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every ``HelmforgeError`` raised by a route to its status and JSON body; FastAPI's
    validation errors to 422 without their input; database refusals to 422, locks to 503."""
    app.add_exception_handler(HelmforgeError, _handle)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(DataError, _handle_refused_value)
    app.add_exception_handler(OperationalError, _handle_database_unavailable)
