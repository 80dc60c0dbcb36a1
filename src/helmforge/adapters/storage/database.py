"""Database engines, sessions and migrations for SQLite (embedded default) and PostgreSQL.

Each feature area keeps its tables in its own module and its migrations on its own Alembic
branch (``branch_labels``) rooted at the shared base revision, so areas evolve independently;
``migrate`` upgrades every head. Several server processes may start at once against one
PostgreSQL database: migrations then run under a PostgreSQL advisory lock.
"""

from __future__ import annotations

__all__ = [
    "Base",
    "SessionFactory",
    "create_database_engine",
    "database_url_for_directory",
    "engine_of",
    "insert_if_absent",
    "migrate",
    "redacted_url",
    "session_factory",
]

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from helmforge.core.errors import ExternalServiceError, InputError

SessionFactory = Callable[[], Session]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant naming helmforge's migration lock among PostgreSQL advisory locks.
_MIGRATION_LOCK_KEY = 0x68656C6D
#: A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE = 10.0


class Base(DeclarativeBase):
    """Declarative base of every helmforge table."""

    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def database_url_for_directory(data_dir: Path) -> str:
    """The embedded default: a SQLite file in helmforge's data directory."""
    return f"sqlite:///{data_dir / 'helmforge.db'}"


def redacted_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return "<unparseable database URL>"


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _ping_when_idle(
    engine: Engine, *, after: float, clock: Callable[[], float] = time.monotonic
) -> None:
    """Ping a pooled connection on checkout only when it sat idle over ``after`` seconds.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip, and about a fifth
    of the CPU of a values edit on PostgreSQL (several sessions per request). A connection
    dies while idle (a server restart, an idle timeout, a firewall), so the one idle a while
    is the one to check; a dead one is replaced before anyone uses it (the pool retries the
    checkout on ``DisconnectionError``). One used a moment ago that died since fails its
    statement, which invalidates the pool (503, and the next request gets new connections).
    """

    def checkin(_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = clock()

    def checkout(connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or clock() - since <= after:
            return
        try:
            engine.dialect.do_ping(connection)  # as pool_pre_ping would, autocommit kept
        except Exception as error:  # any failure of the ping means the connection is gone
            raise DisconnectionError(f"pooled connection idle {clock() - since:.0f} s") from error

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def create_database_engine(
    url: str,
    *,
    ping_after: float = PING_AFTER_IDLE,
    clock: Callable[[], float] = time.monotonic,
) -> Engine:
    """An engine for ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``). On
    PostgreSQL a pooled connection idle over ``ping_after`` seconds (by ``clock``) is pinged
    before use (``_ping_when_idle``).

    Raises ``InputError`` for an unsupported or malformed URL (the password never appears).
    """
    try:
        parsed = sa.engine.make_url(url)
    except (SQLAlchemyError, ValueError) as error:
        raise InputError(f"invalid database URL {redacted_url(url)}") from error
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = sa.create_engine(parsed, pool_size=10, max_overflow=20)
        _ping_when_idle(engine, after=ping_after, clock=clock)
        return engine
    raise InputError(
        f"unsupported database {redacted_url(url)}: use sqlite:///PATH or postgresql://..."
    )


def session_factory(engine: Engine, *, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` that keep loaded attributes after commit; ``info`` is
    configuration every session carries (``Session.info``), such as the access settings."""
    return sessionmaker(bind=engine, expire_on_commit=False, info=dict(info or {}))


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine behind a ``session_factory``: hot paths run prebuilt Core statements on one
    of its connections, without a Session's unit of work (about a third of the CPU)."""
    engine = sessions.kw["bind"]
    if not isinstance(engine, Engine):
        raise TypeError("the session factory is not bound to an engine")
    return engine


def insert_if_absent(
    table: type[Base], values: Mapping[str, Any], *, dialect: str
) -> sa.Executable:
    """``INSERT ... ON CONFLICT DO NOTHING`` on PostgreSQL and SQLite: a row that another
    transaction inserts at the same moment is no error. On PostgreSQL the statement waits for
    that transaction, so a select after it sees the row once it commits."""
    if dialect == "postgresql":
        return postgresql_insert(table).values(dict(values)).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(table).values(dict(values)).on_conflict_do_nothing()
    raise InputError(f"unsupported database dialect {dialect!r}")


def migrate(engine: Engine, *, target: str = "heads") -> None:
    """Upgrade the database to every migration head, or to ``target`` (an Alembic revision
    such as ``server@head``); idempotent and safe across processes."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, target)
    except SQLAlchemyError as error:
        raise ExternalServiceError(
            f"database migration failed on {redacted_url(str(engine.url))}: "
            f"{type(getattr(error, 'orig', None) or error).__name__}"
        ) from error
