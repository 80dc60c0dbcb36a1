"""The one builder of the server's application for API, web and CLI tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from helmforge.core.access.changes import ApprovalRules
from helmforge.server.app import create_app
from helmforge.services.settings import Settings


def make_app(
    database_url: str,
    data_dir: Path,
    *,
    with_web: bool = False,
    clock: Callable[[], datetime] | None = None,
    **overrides: object,
) -> tuple[FastAPI, str]:
    """An application over ``database_url`` (API only unless ``with_web``; ``clock`` times
    its web sessions); returns it and the first admin password (empty when the database
    already had an admin).

    Most tests publish into ``prod`` directly, as a server configured with
    ``HELMFORGE_APPROVALS=`` (no four eyes) does; the tests of four eyes pass ``approvals``.
    """
    overrides.setdefault("approvals", ApprovalRules(by_environment={}))
    settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)  # type: ignore[arg-type]
    passwords: list[str] = []
    app = create_app(settings, announce=passwords.append, with_web=with_web, clock=clock)
    return app, (passwords[0] if passwords else "")
