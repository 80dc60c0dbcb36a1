"""Changing a configured registry, and testing that helmforge can log in to it.

Kept apart from ``services.registries`` (creating, listing and publishing) so that module
stays readable. The same rules hold here: the password is encrypted before it is stored,
replaced only when a new one is given, and no answer, error or audit event holds it.
"""

from __future__ import annotations

__all__ = ["ConnectionCheck", "RegistryChanges", "check_connection", "update_registry"]

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.secrets import encrypt_secret
from helmforge.core.access.principals import Principal
from helmforge.core.errors import (
    AuthenticationError,
    ExternalServiceError,
    HelmforgeError,
    InputError,
    Location,
    PermissionDeniedError,
)
from helmforge.core.oci.references import parse_reference
from helmforge.core.secrets import Secret
from helmforge.services import access, audit
from helmforge.services.publishing import client_for
from helmforge.services.registries import (
    MAX_CA_PEM,
    RegistryView,
    open_config,
    registry_row,
    registry_view,
)


@dataclass(frozen=True, slots=True)
class RegistryChanges:
    """What to change; ``None`` keeps the stored value.

    ``username=""`` makes the registry anonymous (its password goes too); ``ca_pem=""``
    drops the CA bundle; a ``password`` replaces the stored one, and without one the stored
    password stays (it is never shown, so a form cannot send it back).
    """

    url: str | None = None
    username: str | None = None
    password: Secret | None = None
    ca_pem: str | None = None
    plain_http: bool | None = None


def _check_url(url: str) -> str:
    url = url.strip()
    # InputError saying what a valid URL is; credentials in it are refused, shown as ***@.
    parse_reference(url, source="url")
    return url


def update_registry(
    sessions: sessionmaker[Session],
    name: str,
    changes: RegistryChanges,
    *,
    key: bytes,
    actor: Principal,
) -> RegistryView:
    """Change registry ``name`` (``registry.manage``) and audit ``registry.update`` with what
    changed, never the password (only whether it was replaced). Raises ``NotFoundError``,
    ``InputError`` (bad url or CA bundle, a username without any password),
    ``PermissionDeniedError``."""
    access.require(sessions, actor, "registry.manage")
    url = _check_url(changes.url) if changes.url is not None else None
    ca_pem = changes.ca_pem.strip() if changes.ca_pem is not None else None
    if ca_pem and (len(ca_pem) > MAX_CA_PEM or "-----BEGIN" not in ca_pem):
        raise InputError(
            "ca_pem must be a PEM bundle (-----BEGIN CERTIFICATE-----...) under 256 KiB",
            location=Location(path="ca_pem"),
        )
    password = changes.password or None
    with sessions.begin() as session:
        row = registry_row(session, name)
        before = _audited(registry_view(row))
        if url is not None:
            row.url = url
        if ca_pem is not None:
            row.ca_pem = ca_pem or None
        if changes.plain_http is not None:
            row.plain_http = changes.plain_http
        if changes.username is not None:
            row.username = changes.username.strip() or None
        if row.username is None:
            if password is not None:
                raise InputError(
                    "a password needs a username: give both, or neither for anonymous access",
                    location=Location(path="username"),
                )
            row.password_encrypted = None
        elif password is not None:
            row.password_encrypted = encrypt_secret(password, key=key).decode("ascii")
        elif row.password_encrypted is None:
            raise InputError(
                f"user {row.username!r} needs a password: give one, or clear the username "
                "for anonymous access",
                location=Location(path="password"),
            )
        session.flush()
        view = registry_view(row)
        after = _audited(view)
        audit.record(
            session,
            actor,
            "registry.update",
            f"registry:{name}",
            before={k: v for k, v in before.items() if after[k] != v},
            after={
                **{k: v for k, v in after.items() if before[k] != v},
                **({"password_replaced": True} if password is not None else {}),
            },
        )
    return view


def _audited(view: RegistryView) -> dict[str, object]:
    return {
        "url": view.url,
        "username": view.username,
        "plain_http": view.plain_http,
        "has_password": view.has_password,
        "has_ca": view.has_ca,
    }


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The answer of a connection test: ``ok``, ``denied`` (the registry refused our
    credentials) or ``unreachable`` (no answer, TLS, deadline), with a message to show."""

    registry: str
    status: str
    message: str


def check_connection(
    sessions: sessionmaker[Session],
    name: str,
    *,
    key: bytes,
    actor: Principal,
    deadline: float | None = None,
) -> ConnectionCheck:
    """Open registry ``name`` with its stored credentials and send ``GET /v2/`` within
    ``deadline`` seconds (``registry.manage``). The registry's refusal is an answer, not an
    error; only a missing registry (``NotFoundError``) or the caller's own permission raise.
    """
    access.require(sessions, actor, "registry.manage")
    try:
        config = open_config(sessions, name, key=key)
    except ExternalServiceError as error:  # the stored password cannot be decrypted
        return ConnectionCheck(name, "denied", error.message)
    who = f"as {config.username!r}" if config.username else "anonymously"
    where = config.reference.authority
    try:
        with client_for(config, max_connections=1, deadline=deadline) as client:
            client.check_access()
    except (AuthenticationError, PermissionDeniedError) as error:
        return ConnectionCheck(name, "denied", f"{where} refused helmforge {who}: {error}")
    except HelmforgeError as error:
        return ConnectionCheck(name, "unreachable", f"{where} did not answer: {error}")
    return ConnectionCheck(name, "ok", f"{where} answered and accepted helmforge {who}")
