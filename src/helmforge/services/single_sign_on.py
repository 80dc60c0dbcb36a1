"""Single sign-on: start a sign-in at the provider, finish it at the callback.

``begin`` keeps the sign-in's state, nonce and PKCE verifier server-side (``oidc_logins``,
keyed by the SHA-256 of ``state``, ten minutes at most) and returns the provider's URL.
``finish`` takes that row out in the same transaction that reads it, so a callback can be
used once: a replay, or a callback this server never started, finds nothing. Then the code is
exchanged, the ID token checked (``adapters.oidc``), the login gate applied, and the SSO user
created or updated: named ``STEM@sso`` (``core.access.single_sign_on``), with no usable
password, tied to the provider's (issuer, subject), with the groups this ID token named (the
web session carries them, and so do the user's API tokens until the next sign-in updates them).

A signed-in user's groups hold for ``OidcSettings.groups_lifetime`` (``groups_valid_until``);
then the pages ``begin`` a *silent* sign-in (``prompt=none``): a provider where the user is
still signed in answers with a code at once and ``finish`` checks it like any other, the
login gate and a disabled user included; one that needs the user answers with
``login_required`` (or ``interaction_required``, ``consent_required``,
``account_selection_required``), and ``finish`` raises ``InteractionRequired`` so the
browser is sent to an ordinary sign-in instead.

Every refused sign-in is audited as ``user.sign_in`` with ``outcome: refused`` and the reason
(never a token or code) and raises ``AuthenticationError`` with that reason.
"""

from __future__ import annotations

__all__ = [
    "LOGIN_LIFETIME",
    "IdentityRefusedError",
    "InteractionRequired",
    "SingleSignOn",
    "SsoSignIn",
]

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.oidc import OidcClient, OidcError
from helmforge.adapters.storage.oidc_tables import OidcIdentityRow, OidcLoginRow
from helmforge.adapters.storage.server_tables import UserRow
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.access.single_sign_on import (
    groups_from_claims,
    login_gate_refusal,
    sso_user_name,
)
from helmforge.core.errors import AuthenticationError
from helmforge.services import audit
from helmforge.services.settings import OidcSettings

LOGIN_LIFETIME = timedelta(minutes=10)
#: The role column of an SSO user: informational only, their rights come from bindings.
SSO_ROLE = "sso"
# Not an Argon2 hash: verifying any password against it fails, so an SSO user can never sign
# in with a password (accounts' names refuse "@" as well).
_NO_PASSWORD = "!sso"  # noqa: S105 - a marker, not a secret
# What a provider answers a silent sign-in it cannot complete without the user (OpenID
# Connect Core §3.1.2.6).
_INTERACTION_ERRORS = frozenset(
    {"login_required", "interaction_required", "consent_required", "account_selection_required"}
)


class InteractionRequired(AuthenticationError):  # noqa: N818 - answered with a redirect
    """A silent sign-in the provider cannot complete without the user: sign in as usual,
    then go to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        super().__init__("single sign-on: the provider needs you to sign in again")
        self.next_url = next_url


class IdentityRefusedError(AuthenticationError):
    """The provider vouched for the user, and helmforge refuses them: the login gate no
    longer admits their groups, or the user is disabled here. A session of theirs that was
    being checked ends."""


@dataclass(frozen=True, slots=True)
class SsoSignIn:
    """A finished sign-in: who (their groups included), where to go next, until when the
    groups hold, and whether it was a silent check of a signed-in user's groups."""

    principal: Principal
    next_url: str
    groups_valid_until: datetime
    silent: bool = False


@dataclass(frozen=True, slots=True)
class _Login:
    nonce: str
    code_verifier: str
    next_url: str
    expires_at: datetime
    silent: bool


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


class SingleSignOn:
    """The server's single sign-on (one per process: it holds the provider's cached keys)."""

    def __init__(self, settings: OidcSettings, client: OidcClient | None = None) -> None:
        self.settings = settings
        self.client = client or OidcClient(
            issuer=settings.issuer,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            deadline=settings.deadline,
        )

    def redirect_uri(self, request_base: str) -> str:
        """The callback URL: under HELMFORGE_PUBLIC_URL, else under the request's base."""
        base = self.settings.public_url or request_base
        return f"{base.rstrip('/')}/sso/callback"

    def begin(
        self,
        sessions: sessionmaker[Session],
        *,
        next_url: str,
        redirect_uri: str,
        source: str,
        now: datetime | None = None,
        silent: bool = False,
    ) -> str:
        """Store a new sign-in and return the provider's authorization URL; ``silent``: a
        check of a signed-in user's groups (``prompt=none``).

        Raises ``AuthenticationError`` (audited) when the provider cannot be reached.
        """
        moment = now or datetime.now(UTC)
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        try:
            url = self.client.authorization_url(
                redirect_uri=redirect_uri,
                state=state,
                nonce=nonce,
                code_verifier=verifier,
                silent=silent,
            )
        except OidcError as error:
            self.refuse(sessions, str(error), source=source)
        with sessions.begin() as session:
            session.execute(sa.delete(OidcLoginRow).where(OidcLoginRow.expires_at < moment))
            session.add(
                OidcLoginRow(
                    state_hash=_digest(state),
                    nonce=nonce,
                    code_verifier=verifier,
                    next_url=next_url[:2048],
                    expires_at=moment + LOGIN_LIFETIME,
                    silent=silent,
                )
            )
        return url

    def finish(
        self,
        sessions: sessionmaker[Session],
        *,
        state: str,
        code: str,
        error: str,
        redirect_uri: str,
        source: str,
        now: datetime | None = None,
    ) -> SsoSignIn:
        """Check the callback's ``state``, exchange ``code``, validate the ID token, apply
        the login gate, and create or update the SSO user.

        Raises ``AuthenticationError`` (audited) naming what failed, or
        ``InteractionRequired`` (not audited: nothing was refused) when a silent sign-in
        needs the user.
        """
        moment = now or datetime.now(UTC)
        login = self._take_login(sessions, state, moment)
        if login is None:
            self.refuse(
                sessions,
                "this sign-in is unknown, expired or already used; start again",
                source=source,
            )
        if error and login.silent and error in _INTERACTION_ERRORS:
            raise InteractionRequired(login.next_url)
        if error:
            self.refuse(
                sessions, f"the provider refused the sign-in ({error[:100]})", source=source
            )
        if not code or len(code) > 4096:
            self.refuse(sessions, "the provider sent no authorization code", source=source)
        try:
            id_token = self.client.exchange_code(
                code=code, redirect_uri=redirect_uri, code_verifier=login.code_verifier
            )
            claims = self.client.validate_id_token(id_token, nonce=login.nonce)
        except OidcError as failure:
            self.refuse(sessions, str(failure), source=source)
        groups = groups_from_claims(claims, self.settings.groups_claim)
        refusal = login_gate_refusal(groups, self.settings.allowed_groups)
        if refusal is not None:
            # A checked ID token is the truth about the groups even when the gate refuses it:
            # the user's API tokens lose the groups they no longer have.
            self._note_groups(sessions, str(claims["sub"]), groups)
            self.refuse(sessions, refusal, source=source, subject=str(claims["sub"]))
        principal = self._sign_in_user(
            sessions, claims, groups, source=source, now=moment, silent=login.silent
        )
        return SsoSignIn(
            principal=principal,
            next_url=login.next_url,
            groups_valid_until=moment + timedelta(seconds=self.settings.groups_lifetime),
            silent=login.silent,
        )

    def _take_login(
        self, sessions: sessionmaker[Session], state: str, now: datetime
    ) -> _Login | None:
        if not state or len(state) > 200:
            return None
        digest = _digest(state)
        with sessions.begin() as session:
            row = session.get(OidcLoginRow, digest, with_for_update=True)
            if row is None:
                return None
            login = _Login(
                row.nonce, row.code_verifier, row.next_url, row.expires_at, bool(row.silent)
            )
            # Gone with this commit: the same callback, replayed, finds nothing. Two callbacks
            # at once: PostgreSQL's row lock makes the second read find the row gone; SQLite
            # serializes writers. Either way only one gets the verifier.
            session.execute(sa.delete(OidcLoginRow).where(OidcLoginRow.state_hash == digest))
        return login if login.expires_at > now else None

    def _note_groups(
        self, sessions: sessionmaker[Session], subject: str, groups: tuple[str, ...]
    ) -> None:
        with sessions.begin() as session:
            session.execute(
                sa.update(OidcIdentityRow)
                .where(
                    OidcIdentityRow.issuer == self.client.issuer,
                    OidcIdentityRow.subject == subject,
                )
                .values(groups="\n".join(groups))
            )

    def refuse(
        self,
        sessions: sessionmaker[Session],
        reason: str,
        *,
        source: str,
        subject: str | None = None,
    ) -> NoReturn:
        after = {"outcome": "refused", "reason": reason, "source": source, "method": "sso"}
        if subject is not None:
            after["subject"] = subject[:255]
        with sessions.begin() as session:
            audit.record(
                session, SYSTEM, "user.sign_in", f"sso:{self.settings.issuer}", after=after
            )
        # A refusal naming the subject is one of a checked identity (the gate, disabled).
        refused = AuthenticationError if subject is None else IdentityRefusedError
        raise refused(f"single sign-on failed: {reason}")

    def _sign_in_user(
        self,
        sessions: sessionmaker[Session],
        claims: dict[str, object],
        groups: tuple[str, ...],
        *,
        source: str,
        now: datetime,
        silent: bool,
    ) -> Principal:
        subject = str(claims["sub"])
        issuer = self.client.issuer
        for attempt in range(3):
            try:
                with sessions.begin() as session:
                    user = self._user_of(
                        session, (issuer, subject), claims, groups, now=now, attempt=attempt
                    )
                    if user.disabled:
                        disabled = True
                    else:
                        disabled = False
                        principal = Principal(
                            name=user.name, role=user.role, kind="user", id=user.id, groups=groups
                        )
                        audit.record(
                            session,
                            principal,
                            "user.sign_in",
                            f"user:{user.name}",
                            after={
                                "source": source,
                                "method": "sso-check" if silent else "sso",
                                "groups": list(groups),
                            },
                        )
                if disabled:
                    self.refuse(sessions, "this user is disabled", source=source, subject=subject)
                return principal
            except IntegrityError:
                continue  # a name or identity taken meanwhile: look again, disambiguated
        return self.refuse(sessions, "no user name could be given to this identity", source=source)

    def _user_of(
        self,
        session: Session,
        identity_key: tuple[str, str],
        claims: dict[str, object],
        groups: tuple[str, ...],
        *,
        now: datetime,
        attempt: int,
    ) -> UserRow:
        issuer, subject = identity_key
        # Kept for the user's API tokens: they act with the groups of the latest sign-in.
        listed = "\n".join(groups)
        identity = session.scalar(
            sa.select(OidcIdentityRow).where(
                OidcIdentityRow.issuer == issuer, OidcIdentityRow.subject == subject
            )
        )
        if identity is not None:
            identity.last_sign_in_at = now
            identity.groups = listed
            user = session.get(UserRow, identity.user_id)
            if user is not None:
                return user
        name = sso_user_name(claims, disambiguate=attempt > 0)
        if attempt == 0 and session.scalar(sa.select(UserRow.id).where(UserRow.name == name)):
            name = sso_user_name(claims, disambiguate=True)
        user = UserRow(
            name=name,
            role=SSO_ROLE,
            password_hash=_NO_PASSWORD,
            created_at=now,
            disabled=False,
            must_change_password=False,
        )
        session.add(user)
        session.flush()
        session.add(
            OidcIdentityRow(
                issuer=issuer,
                subject=subject,
                user_id=user.id,
                created_at=now,
                last_sign_in_at=now,
                groups=listed,
            )
        )
        session.flush()
        audit.record(
            session, SYSTEM, "user.create", f"user:{name}", after={"role": SSO_ROLE, "sso": issuer}
        )
        return user
