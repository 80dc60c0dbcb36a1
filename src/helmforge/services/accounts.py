"""Local accounts: users with Argon2id password hashes, API tokens, and sign-in throttling.

The service API of accounts (the API, pages and CLI import from here): the tokens live in
``api_tokens``, the user-name rules shared with it in ``account_rules``.

Sign-in failures are counted per account and per source address in the database, so counters
survive restarts and are shared by every server process. Unknown and known names meet the same
message and the same work (a dummy hash is verified), so nobody learns which names exist.
API tokens are shown once, stored as SHA-256 digests and found by a non-secret prefix.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_FAILURE_LIMIT",
    "BINDINGS_ONLY",
    "FAILURE_WINDOW",
    "LOCKOUT",
    "MIN_PASSWORD_LENGTH",
    "SOURCE_FAILURE_LIMIT",
    "CreatedToken",
    "SignedInUser",
    "TokenView",
    "UserView",
    "authenticate_password",
    "change_password",
    "create_token",
    "create_user",
    "ensure_first_admin",
    "generate_password",
    "list_tokens",
    "list_users",
    "page_users",
    "principal_for_token",
    "principal_for_user",
    "revoke_token",
    "set_password",
    "signed_in_user",
    "sso_groups",
]

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NoReturn

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.server_tables import LoginThrottleRow, UserRow
from helmforge.core.access.principals import ADMIN, SYSTEM, Principal, check_role
from helmforge.core.access.single_sign_on import is_sso_user
from helmforge.core.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    Location,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.services import access, audit
from helmforge.services.account_rules import ANY_USER_NAME, USER_NAME
from helmforge.services.api_tokens import (
    CreatedToken,
    TokenView,
    create_token,
    list_tokens,
    principal_for_token,
    revoke_token,
    sso_groups,
)
from helmforge.services.paging import Page, PageRequest, contains, fetch_page
from helmforge.services.user_sign_outs import close_web_sessions, revoke_api_tokens

MIN_PASSWORD_LENGTH = 12
#: The role column of a user created without a role: their rights are their bindings only.
BINDINGS_ONLY = ""
ACCOUNT_FAILURE_LIMIT = 5
SOURCE_FAILURE_LIMIT = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=5)

_BAD_CREDENTIALS = "invalid user name or password"

# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 30 ms per check
# here, so a burst of sign-ins cannot exhaust the server's CPU and memory.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(24))


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    name: str
    role: str
    created_at: datetime
    disabled: bool


def _user_view(row: UserRow) -> UserView:
    return UserView(row.id, row.name, row.role, row.created_at, row.disabled)


def generate_password() -> str:
    """A random password of 24 URL-safe characters (about 143 bits)."""
    return secrets.token_urlsafe(18)


def _check_new_user(name: str, password: str) -> None:
    problems: list[str] = []
    if not USER_NAME.match(name):
        problems.append(
            f"user name {name[:80]!r} must be 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        problems.append("password must have at most 1024 characters")
    if problems:
        raise InputError("; ".join(problems))


def create_user(
    sessions: sessionmaker[Session],
    name: str,
    *,
    role: str | None,
    password: str,
    actor: Principal,
    must_change_password: bool = False,
) -> UserView:
    """Create a local user with an Argon2id hash of ``password``; only an admin may.

    ``role`` is bound at every scope (``*/*/*/*``); without one (``None``) the user holds no
    binding yet and gets their rights from bindings added later (DESIGN §9: ``POST /users``
    takes a name and a password only). ``must_change_password`` is for a password someone
    else chose (an administrator on the Users page or the API): the user must pick their own
    at their first sign-in.

    Raises ``InputError`` (bad name, role or password), ``ConflictError`` (name taken),
    ``PermissionDeniedError``.
    """
    access.require(sessions, actor, "user.manage")
    if role is not None:
        check_role(role)
    _check_new_user(name, password)
    try:
        row = _insert_user(
            sessions,
            name=name,
            role=role,
            password=password,
            actor=actor,
            must_change_password=must_change_password,
        )
    except IntegrityError as error:
        raise ConflictError(f"user {name!r} already exists") from error
    return _user_view(row)


def _insert_user(
    sessions: sessionmaker[Session],
    *,
    name: str,
    role: str | None,
    password: str,
    actor: Principal,
    must_change_password: bool = False,
) -> UserRow:
    """Add enabled user ``name`` and its audit record in one transaction (``IntegrityError``
    when the name is taken); ``role``, when given, is bound at every scope."""
    row = UserRow(
        name=name,
        role=role or BINDINGS_ONLY,
        password_hash=_hasher.hash(password),
        created_at=datetime.now(UTC),
        disabled=False,
        must_change_password=must_change_password,
    )
    with sessions.begin() as session:
        session.add(row)
        session.flush()
        audit.record(session, actor, "user.create", f"user:{name}", after={"role": role})
        if role is not None:
            # The role given at creation is a binding at every scope (DESIGN §9).
            access.bind_role(
                session, subject=f"user:{name}", role=role, scope="*/*/*/*", actor=actor
            )
    return row


def list_users(sessions: sessionmaker[Session], *, actor: Principal) -> list[UserView]:
    """Every user, by name (admins only)."""
    access.require(sessions, actor, "user.manage")
    with sessions() as session:
        return [_user_view(r) for r in session.scalars(sa.select(UserRow).order_by(UserRow.name))]


def page_users(
    sessions: sessionmaker[Session], *, actor: Principal, page: PageRequest
) -> Page[UserView]:
    """One page of users by name (admins only); ``page.query`` matches the name and role."""
    access.require(sessions, actor, "user.manage")
    query = sa.select(UserRow).order_by(UserRow.name)
    if page.query:
        query = query.where(contains(page.query, UserRow.name, UserRow.role))
    with sessions() as session:
        return fetch_page(session, query, page, _user_view)


def ensure_first_admin(sessions: sessionmaker[Session], *, name: str = "admin") -> str | None:
    """When no user exists, create admin ``name`` with a generated password and return it (to
    print once); otherwise return ``None``. Safe when several servers start at once."""
    with sessions() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(UserRow)):
            return None
    password = generate_password()
    try:
        _insert_user(
            sessions,
            name=name,
            role=ADMIN,
            password=password,
            actor=SYSTEM,
            must_change_password=True,  # generated: the admin must pick their own
        )
    except IntegrityError:
        return None  # another server created it first
    return password


def principal_for_user(sessions: sessionmaker[Session], user_id: int) -> Principal | None:
    """The principal of an enabled user (for web sessions), or ``None``."""
    with sessions() as session:
        row = session.get(UserRow, user_id)
        if row is None or row.disabled:
            return None
        return Principal(name=row.name, role=row.role, kind="user", id=row.id)


# --- sign-in with throttling ------------------------------------------------------------------


def _throttle_keys(name: str, source: str) -> list[tuple[str, int]]:
    # Digests, not the typed text: a password typed into the name field is never stored, and
    # any byte (NUL included) makes a valid key.
    def key(kind: str, text: str) -> str:
        return f"{kind}:{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()}"

    return [
        (key("account", name.strip().lower()), ACCOUNT_FAILURE_LIMIT),
        (key("source", source), SOURCE_FAILURE_LIMIT),
    ]


def _locked_for(session: Session, keys: list[tuple[str, int]], now: datetime) -> timedelta | None:
    rows = session.scalars(
        sa.select(LoginThrottleRow).where(LoginThrottleRow.key.in_([k for k, _ in keys]))
    )
    waits = [row.locked_until - now for row in rows if row.locked_until and row.locked_until > now]
    return max(waits) if waits else None


def _count_failure(sessions: sessionmaker[Session], key: str, limit: int, now: datetime) -> None:
    for _attempt in range(3):
        try:
            with sessions.begin() as session:
                row = session.scalar(
                    sa.select(LoginThrottleRow).where(LoginThrottleRow.key == key).with_for_update()
                )
                if row is None:
                    row = LoginThrottleRow(key=key, failures=0, window_started_at=now)
                    session.add(row)
                elif row.window_started_at + FAILURE_WINDOW < now:
                    row.failures, row.window_started_at, row.locked_until = 0, now, None
                row.failures += 1
                if row.failures >= limit:
                    row.locked_until = now + LOCKOUT
            return
        except IntegrityError:
            continue  # another process inserted the same key: count again on its row


def _record_failed_sign_in(
    sessions: sessionmaker[Session], name: str, *, source: str, reason: str
) -> None:
    """Audit a refused sign-in as the server (nobody is signed in). A name that cannot be a
    user name is not stored: it may be a password typed into the wrong field."""
    shown = name if USER_NAME.match(name) else "(not a user name)"
    with sessions.begin() as session:
        audit.record(
            session,
            SYSTEM,
            "user.sign_in_failed",
            f"user:{shown}",
            after={"source": source[:100], "reason": reason},
        )


def authenticate_password(
    sessions: sessionmaker[Session],
    name: str,
    password: str,
    *,
    source: str,
    now: datetime | None = None,
) -> Principal:
    """Check ``name``/``password`` signing in from ``source`` (a client address).

    Raises ``AuthenticationError`` with one message for a wrong password, an unknown or a
    disabled user, and another (naming the wait) while the account or source is throttled.
    """
    now = now or datetime.now(UTC)
    keys = _throttle_keys(name, source)
    with sessions() as session:
        wait = _locked_for(session, keys, now)
        if wait is not None:
            _record_failed_sign_in(sessions, name, source=source, reason="throttled")
            seconds = max(1, int(wait.total_seconds()))
            raise AuthenticationError(f"too many failed sign-ins; try again in {seconds} seconds")
        row = (
            session.scalar(sa.select(UserRow).where(UserRow.name == name))
            if USER_NAME.match(name)
            else None
        )
        stored = row.password_hash if row is not None and not row.disabled else _dummy_hash()
    try:
        valid: bool = _hasher.verify(stored, password[:1024])
    except (VerificationError, InvalidHashError):
        valid = False
    if not valid or row is None or row.disabled:
        for key, limit in keys:
            _count_failure(sessions, key, limit, now)
        _record_failed_sign_in(sessions, name, source=source, reason="bad credentials")
        raise AuthenticationError(_BAD_CREDENTIALS)
    principal = Principal(name=row.name, role=row.role, kind="user", id=row.id)
    with sessions.begin() as session:
        session.execute(sa.delete(LoginThrottleRow).where(LoginThrottleRow.key == keys[0][0]))
        audit.record(
            session, principal, "user.sign_in", f"user:{row.name}", after={"source": source}
        )
    return principal


# --- API tokens -------------------------------------------------------------------------------


# --- password changes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """An enabled user behind a web session, and whether they must change their password
    before doing anything else."""

    principal: Principal
    must_change_password: bool


def signed_in_user(sessions: sessionmaker[Session], user_id: int) -> SignedInUser | None:
    """The enabled user ``user_id`` for a web session (one query), or ``None``."""
    with sessions() as session:
        row = session.get(UserRow, user_id)
        if row is None or row.disabled:
            return None
        principal = Principal(name=row.name, role=row.role, kind="user", id=row.id)
        return SignedInUser(principal, row.must_change_password)


def _check_password_policy(password: str, *, name: str) -> None:
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"the new password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        problems.append("the new password must have at most 1024 characters")
    if password.strip().lower() == name.lower():
        problems.append("the new password must not be the user name")
    if problems:
        raise InputError("; ".join(problems))


def change_password(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    current_password: str,
    new_password: str,
    keep_session: str | None = None,
    now: datetime | None = None,
) -> None:
    """The actor changes their own password, proving the current one first.

    Clears "must change password" and signs out every other web session of the user (all of
    them but the one whose cookie value is ``keep_session``). Wrong current passwords count
    towards the account's sign-in lockout. Raises ``AuthenticationError`` (wrong current
    password, or throttled), ``InputError`` (policy), ``PermissionDeniedError`` (the system,
    or an SSO user: they have no password here).
    """
    if actor.kind == "system":
        raise PermissionDeniedError("only a user can change their password")
    if is_sso_user(actor.name):
        raise PermissionDeniedError(
            f"{actor.name} signs in through single sign-on and has no password in helmforge; "
            "change it at your identity provider"
        )
    now = now or datetime.now(UTC)
    key, limit = _throttle_keys(actor.name, "")[0]
    with sessions() as session:
        wait = _locked_for(session, [(key, limit)], now)
        if wait is not None:
            seconds = max(1, int(wait.total_seconds()))
            raise AuthenticationError(f"too many failed attempts; try again in {seconds} seconds")
        row = session.get(UserRow, actor.id)
        stored = row.password_hash if row is not None and not row.disabled else _dummy_hash()
    try:
        valid: bool = _hasher.verify(stored, current_password[:1024])
    except (VerificationError, InvalidHashError):
        valid = False
    if not valid or row is None or row.disabled:
        _count_failure(sessions, key, limit, now)
        raise AuthenticationError("the current password is wrong")
    _check_password_policy(new_password, name=row.name)
    if new_password == current_password:
        raise InputError("the new password must differ from the current one")
    new_hash = _hasher.hash(new_password)
    with sessions.begin() as session:
        locked = session.get(UserRow, row.id, with_for_update=True)
        if locked is None or locked.password_hash != stored:
            # Changed or removed between the check and now: the proof no longer holds.
            raise AuthenticationError("the password changed meanwhile; sign in again")
        before = {"must_change_password": locked.must_change_password}
        locked.password_hash = new_hash
        locked.must_change_password = False
        closed = close_web_sessions(session, locked.id, keep=keep_session)
        session.execute(sa.delete(LoginThrottleRow).where(LoginThrottleRow.key == key))
        audit.record(
            session,
            actor,
            "user.password_change",
            f"user:{locked.name}",
            before=before,
            after={"must_change_password": False, "other_sessions_closed": closed},
        )


def _refuse_sso_reset(sessions: sessionmaker[Session], name: str) -> NoReturn:
    with sessions() as session:
        if session.scalar(sa.select(UserRow.id).where(UserRow.name == name)) is None:
            raise NotFoundError(f"user {name!r} does not exist", location=Location(path="name"))
    message = (
        f"{name} signs in through single sign-on and has no password in helmforge (their "
        "identity provider holds it), so there is none to reset. To end their access here "
        "now, sign them out and revoke their API tokens (the Users page's Sign out; "
        f'POST /api/v1/users/{name}/sign-out {{"revoke_tokens": true}}; '
        f"helmforge users sign-out {name} --revoke-tokens), and remove them at the provider "
        "so they cannot sign in again"
    )
    field = Location(path="password")
    # As one problem too, so API clients find the field in ``problems`` like any other.
    raise InputError(message, location=field, problems=(InputError(message, location=field),))


def set_password(
    sessions: sessionmaker[Session],
    name: str,
    *,
    password: str,
    actor: Principal,
    revoke_tokens: bool = False,
) -> int:
    """An admin sets user ``name``'s password; the user must change it at their next sign-in.

    Signs out every web session of that user; with ``revoke_tokens`` also revokes every API
    token of theirs (a reset after a compromise: the tokens were as good as the password), in
    the same transaction and audit event. Returns how many tokens were revoked. Raises
    ``PermissionDeniedError`` (not an admin), ``NotFoundError``, ``InputError`` (policy; or
    an SSO user, who has no password here: ``user_sign_outs.sign_out_user`` applies).
    """
    access.require(sessions, actor, "user.manage")
    if is_sso_user(name) and ANY_USER_NAME.match(name):
        _refuse_sso_reset(sessions, name)
    if not USER_NAME.match(name):
        raise NotFoundError(f"user {name[:80]!r} does not exist")
    _check_password_policy(password, name=name)
    new_hash = _hasher.hash(password)
    with sessions.begin() as session:
        row = session.scalar(sa.select(UserRow).where(UserRow.name == name).with_for_update())
        if row is None:
            raise NotFoundError(f"user {name!r} does not exist")
        before = {"must_change_password": row.must_change_password}
        row.password_hash = new_hash
        row.must_change_password = True
        closed = close_web_sessions(session, row.id)
        revoked = revoke_api_tokens(session, row.id, now=datetime.now(UTC)) if revoke_tokens else 0
        audit.record(
            session,
            actor,
            "user.password_set",
            f"user:{name}",
            before=before,
            after={
                "must_change_password": True,
                "sessions_closed": closed,
                "tokens_revoked": revoked,
            },
        )
    return revoked
