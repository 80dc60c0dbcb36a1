"""Registries as configured objects: by name, with URL, TLS settings and credentials.

The password is encrypted with the server's secret key (``secret_key_for``) before it reaches
the database, and no view, error, log line or audit event holds it. Publishing builds to a
registry, and reading what was pushed there, is ``services.chart_pushes``; editing a
registry's settings is ``services.registry_settings``.
"""

from __future__ import annotations

__all__ = [
    "RegistryView",
    "as_service_error",
    "chart_location",
    "check_registry",
    "create_registry",
    "delete_registry",
    "list_registries",
    "open_config",
    "registry_row",
    "registry_view",
    "secret_key_for",
]

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.key_files import check_key, load_or_create_key
from helmforge.adapters.secrets import open_registry, seal_registry
from helmforge.adapters.storage.publishing_tables import RegistryRow
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import (
    AuthenticationError,
    ConflictError,
    ExternalServiceError,
    HelmforgeError,
    InputError,
    Location,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.core.oci.references import Registry, parse_reference
from helmforge.core.secrets import Secret
from helmforge.services import access, audit
from helmforge.services.settings import Settings

KEY_FILE_NAME = "secret.key"
MAX_CA_PEM = 256 << 10


def secret_key_for(settings: Settings) -> bytes:
    """The Fernet key for credentials at rest: HELMFORGE_SECRET_KEY, else the key file in the
    data directory (created with mode 0600 on first use). There is no built-in key."""
    if settings.secret_key:
        return check_key(settings.secret_key.strip().encode(), source="HELMFORGE_SECRET_KEY")
    return load_or_create_key(settings.data_dir / KEY_FILE_NAME)


@dataclass(frozen=True, slots=True)
class RegistryView:
    """A configured registry as anyone may see it: no password, only whether one is set."""

    name: str
    url: str
    plain_http: bool
    username: str | None
    has_password: bool
    has_ca: bool
    created_by: str
    created_at: datetime


def registry_view(row: RegistryRow) -> RegistryView:
    return RegistryView(
        name=row.name,
        url=row.url,
        plain_http=row.plain_http,
        username=row.username,
        has_password=row.password_encrypted is not None,
        has_ca=bool(row.ca_pem),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _require_admin(sessions: sessionmaker[Session], actor: Principal) -> None:
    access.require(sessions, actor, "registry.manage")


def create_registry(
    sessions: sessionmaker[Session],
    *,
    name: str,
    url: str,
    key: bytes,
    actor: Principal,
    username: str | None = None,
    password: Secret | None = None,
    ca_pem: str | None = None,
    plain_http: bool = False,
) -> RegistryView:
    """Store a registry (admins only). Raises ``InputError`` (bad name, url, credentials or CA),
    ``ConflictError`` (the name is taken), ``PermissionDeniedError``."""
    _require_admin(sessions, actor)
    if not is_dns_label(name):
        raise InputError(
            f"registry name {name!r} is invalid: 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
            location=Location(path="name"),
        )
    if ca_pem is not None and (len(ca_pem) > MAX_CA_PEM or "-----BEGIN" not in ca_pem):
        raise InputError(
            "ca_pem must be a PEM bundle (-----BEGIN CERTIFICATE-----...) under 256 KiB",
            location=Location(path="ca_pem"),
        )
    if password is not None and not password:
        password = None
    registry = Registry(
        url,
        ca_pem=ca_pem or None,
        plain_http=plain_http,
        username=username or None,
        password=password,
    )
    sealed = seal_registry(registry, key=key)
    row = RegistryRow(
        name=name,
        url=registry.url,
        ca_pem=registry.ca_pem,
        plain_http=registry.plain_http,
        username=registry.username,
        password_encrypted=sealed["password_encrypted"],
        created_at=datetime.now(UTC),
        created_by=actor.name,
    )
    try:
        with sessions.begin() as session:
            session.add(row)
            session.flush()
            audit.record(
                session,
                actor,
                "registry.create",
                f"registry:{name}",
                after={
                    "name": name,
                    "url": registry.url,
                    "username": registry.username,
                    "plain_http": registry.plain_http,
                    "has_password": registry.password is not None,
                    "has_ca": registry.ca_pem is not None,
                },
            )
    except IntegrityError:
        raise ConflictError(
            f"a registry named {name!r} already exists; delete it first or pick another name",
            location=Location(path="name"),
        ) from None
    return registry_view(row)


def list_registries(sessions: sessionmaker[Session], *, actor: Principal) -> list[RegistryView]:
    """Every configured registry by name (no secrets)."""
    access.require(sessions, actor, "registry.read")
    with sessions() as session:
        rows = session.scalars(sa.select(RegistryRow).order_by(RegistryRow.name))
        return [registry_view(row) for row in rows]


def registry_row(session: Session, name: str) -> RegistryRow:
    row = (
        session.scalars(sa.select(RegistryRow).where(RegistryRow.name == name)).first()
        if len(name) <= 63
        else None
    )
    if row is None:
        raise NotFoundError(
            f"registry {name!r} is not configured", location=Location(path="registry")
        )
    return row


def delete_registry(sessions: sessionmaker[Session], name: str, *, actor: Principal) -> None:
    """Forget a registry (admins only); its push history stays. Raises ``NotFoundError``."""
    _require_admin(sessions, actor)
    with sessions.begin() as session:
        row = registry_row(session, name)
        before = {"name": row.name, "url": row.url, "username": row.username}
        session.delete(row)
        audit.record(session, actor, "registry.delete", f"registry:{name}", before=before)


def open_config(sessions: sessionmaker[Session], name: str, *, key: bytes) -> Registry:
    """Registry ``name`` with its credentials decrypted with ``key``, to talk to it. Raises
    ``NotFoundError`` (not configured), ``ExternalServiceError`` (the key does not open them)."""
    with sessions() as session:
        row = registry_row(session, name)
        record: dict[str, Any] = {
            "url": row.url,
            "ca_pem": row.ca_pem,
            "plain_http": row.plain_http,
            "username": row.username,
            "password_encrypted": row.password_encrypted,
        }
    try:
        return open_registry(record, key=key)
    except InputError as error:
        raise ExternalServiceError(
            f"the credentials of registry {name!r} cannot be decrypted with this server's "
            "secret key (was HELMFORGE_SECRET_KEY changed?): configure the registry again"
        ) from error


def as_service_error(name: str, error: HelmforgeError) -> HelmforgeError:
    """Registry refusals of our credentials are the registry's answer, not the caller's login."""
    if isinstance(error, (AuthenticationError, PermissionDeniedError)):
        wrapped = ExternalServiceError(f"registry {name!r}: {error}")
        wrapped.__cause__ = error
        return wrapped
    return error


def chart_location(sessions: sessionmaker[Session], name: str) -> str:
    """Where charts published to registry ``name`` live as Argo CD names a Helm OCI source:
    ``host[:port][/path]`` without the scheme. ``NotFoundError`` when not configured."""
    with sessions() as session:
        reference = parse_reference(registry_row(session, name).url, source="registry.url")
    return f"{reference.authority}/{reference.path}" if reference.path else reference.authority


def check_registry(sessions: sessionmaker[Session], name: str) -> None:
    """``NotFoundError`` unless ``name`` is a configured registry."""
    with sessions() as session:
        registry_row(session, name)
