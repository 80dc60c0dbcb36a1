"""Opening the server's store: engine, migrations, first admin, example template.

Several servers may start at once against one PostgreSQL database: migrations run under an
advisory lock, and the first admin and the example are created at most once.
"""

from __future__ import annotations

__all__ = [
    "EXAMPLE_TEMPLATE",
    "Store",
    "connect_store",
    "database_problem",
    "open_store",
    "open_store_at",
    "prepare_store",
]

import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import create_database_engine, migrate, session_factory
from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import HelmforgeError
from helmforge.services import accounts, template_store
from helmforge.services.access import access_configuration
from helmforge.services.settings import Settings

_log = logging.getLogger("helmforge.server")

# The example the server seeds on first start (present in a source checkout).
EXAMPLE_TEMPLATE = (
    Path(__file__).resolve().parents[3] / "examples" / "templates" / "web-service.yaml"
)


@dataclass(frozen=True, slots=True)
class Store:
    engine: Engine
    sessions: sessionmaker[Session]


def open_store(settings: Settings) -> Store:
    """Create the engine for ``settings.database_url`` and migrate the database to the newest
    schema; raises ``InputError`` (bad URL) or ``ExternalServiceError`` (database failed).
    Its sessions carry the access settings (``services.access.configuration``)."""
    store = open_store_at(settings.database_url)
    return Store(engine=store.engine, sessions=_sessions(store.engine, settings))


def open_store_at(database_url: str) -> Store:
    """``open_store`` for a bare URL (the local commands: import, catalog, schemas)."""
    engine = create_database_engine(database_url)
    migrate(engine)
    return Store(engine=engine, sessions=session_factory(engine))


def connect_store(settings: Settings) -> Store:
    """The engine for a database another process has already migrated (the workers of
    ``helmforge serve --workers N``: neither Alembic nor the migrations are loaded)."""
    engine = create_database_engine(settings.database_url)
    return Store(engine=engine, sessions=_sessions(engine, settings))


def _sessions(engine: Engine, settings: Settings) -> sessionmaker[Session]:
    return session_factory(
        engine,
        info=access_configuration(
            development_environments=settings.development_environments,
            approvals=settings.approvals,
            template_review=settings.template_review,
        ),
    )


def prepare_store(
    store: Store, *, seed_examples: bool, example: Path = EXAMPLE_TEMPLATE
) -> str | None:
    """Create the first admin when there are no users, and seed the example template into an
    empty store. Returns the admin's generated password (to be changed at the first sign-in)
    when one was created."""
    password = accounts.ensure_first_admin(store.sessions)
    if seed_examples:
        if not example.is_file():
            _log.warning("example template %s is missing; nothing seeded", example)
        else:
            try:
                template_store.seed_template(store.sessions, example, actor=SYSTEM)
            except HelmforgeError as error:
                _log.warning("example template %s was not seeded: %s", example, error)
    return password


def database_problem(sessions: sessionmaker[Session]) -> str | None:
    """``None`` when the database answers a query, else the error's type name (readiness:
    the name says what failed without echoing a URL or a password)."""
    try:
        with sessions() as session:
            session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as error:
        return type(error).__name__
    return None
