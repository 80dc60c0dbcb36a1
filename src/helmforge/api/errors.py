"""The one place where helmforge errors become HTTP responses.

Body: ``{"error": <class>, "message": <text>, "problems": [{message, line, path}],
"current": <state>}`` (``problems`` for input errors with several problems, ``current`` for a
stale edit). The status comes from ``helmforge.core.errors.HTTP_STATUS``, the one table the web
pages share. Bad input never answers 500.
"""

from __future__ import annotations

__all__ = ["error_body", "install_error_handlers"]

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from helmforge.core.errors import HelmforgeError, InputError, http_status_for
from helmforge.services.template_store import StaleRevisionError

_log = logging.getLogger("helmforge.api")


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
    if isinstance(error, StaleRevisionError):
        body["current"] = error.current.as_json()
    return body


async def _handle(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HelmforgeError)
    status = http_status_for(error)
    if status >= 500:
        _log.warning("%s %s: %s", request.method, request.url.path, error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(error), status_code=status, headers=headers)


async def _handle_refused_value(request: Request, error: Exception) -> JSONResponse:
    # A safety net: inputs are checked before they reach the database, but a value the
    # database still refuses (a NUL byte, an overlong text) is the caller's input, not a 500.
    _log.warning(
        "%s %s: the database refused a value: %s",
        request.method,
        request.url.path,
        type(getattr(error, "orig", None) or error).__name__,
    )
    return JSONResponse(
        {"error": "InputError", "message": "the database refused a value of this request"},
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every ``HelmforgeError`` raised by a route to its status and JSON body."""
    app.add_exception_handler(HelmforgeError, _handle)
    app.add_exception_handler(DataError, _handle_refused_value)
