"""What the server builds once at startup and hands to every request: one frozen ``AppState``.

``server.app.create_app`` builds it and stores it on the ASGI application once; the API
(``api.dependencies.AppStateDep``) and the pages (``web.views.app_state``) read it through a
typed accessor instead of picking untyped attributes off the application's state. Services
never see it: routes pass each service the ``sessions`` and the acting principal.

``RequestT`` is the web framework's request type, so that this module knows no framework.
"""

from __future__ import annotations

__all__ = ["STATE_ATTRIBUTE", "AppState", "SessionResolver"]

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.settings import Settings
from helmforge.services.single_sign_on import SingleSignOn

# The one attribute of the application's state that holds the ``AppState``.
STATE_ATTRIBUTE = "helmforge"

# The web UI's answer to "who sends this API request?" for its session cookie (``None``: no
# valid session, or an unsafe method without the session's CSRF token).
type SessionResolver[RequestT] = Callable[[RequestT], Principal | None]


@dataclass(frozen=True, slots=True)
class AppState[RequestT]:
    """The server's shared, immutable state.

    ``settings`` as loaded; ``engine`` and ``sessions`` on the store; ``registry_secret_key``
    (the Fernet key of registry credentials at rest, resolved at startup so a bad key fails
    the start); ``metrics`` (the Prometheus registry of this application's HTTP collectors);
    ``session_resolver`` (set when the web UI is mounted, so API calls accept its cookie);
    ``single_sign_on`` (set when OIDC is configured; it caches the provider's keys);
    ``clock`` (aware UTC datetimes), what the web sessions tell time by.
    """

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    registry_secret_key: bytes
    metrics: CollectorRegistry
    session_resolver: SessionResolver[RequestT] | None = None
    single_sign_on: SingleSignOn | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def git_workspace(self) -> GitWorkspace:
        """What instance operations need beyond the database (key, Git caches, deadlines)."""
        return GitWorkspace.from_settings(self.settings, self.registry_secret_key)

    def change_context(self) -> dict[str, Any]:
        """What proposing and applying a change request needs: the registry key and deadline
        (chart publishes) and the Git workspace (instance changes)."""
        return {
            "registry_key": self.registry_secret_key,
            "deadline": float(self.settings.registry_deadline),
            "workspace": self.git_workspace,
        }
