"""Managing access (DESIGN §9): bindings one by one (``binding.manage``) and the whole policy as
Argo CD-style CSV (``policy.manage``), each change audited.

Nothing here lets the last administrator go: removing the last admin binding is refused, and so
is a policy that binds no admin, or whose admin bindings name nobody able to sign in while the
stored one has someone (``core/access/administrators``). Callers import these names from
``services.access``.
"""

from __future__ import annotations

__all__ = [
    "BindingView",
    "add_binding",
    "bind_role",
    "bindings_of",
    "check_own_bindings",
    "export_policy",
    "import_policy",
    "list_bindings",
    "remove_binding",
]

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.access_tables import BindingRow, PolicyRuleRow
from helmforge.adapters.storage.oidc_tables import OidcIdentityRow
from helmforge.adapters.storage.server_tables import UserRow
from helmforge.core.access.administrators import (
    ADMIN_ROLE,
    SubjectState,
    admin_grants,
    lockout_refusal,
)
from helmforge.core.access.policy import (
    ROLE_ALIASES,
    Binding,
    Policy,
    check_binding,
    parse_policy_csv,
    parse_scope,
    parse_subject,
    policy_csv,
)
from helmforge.core.access.principals import Principal
from helmforge.core.errors import ConflictError, InputError, Location, NotFoundError
from helmforge.services import audit
from helmforge.services.access_checks import require
from helmforge.services.access_policies import (
    binding_of,
    configuration,
    policy_for,
    rule_of,
    session_configuration,
    stored_scope_kind,
    subjects_of,
)


@dataclass(frozen=True, slots=True)
class BindingView:
    id: int
    subject: str
    role: str
    scope: str
    created_at: datetime
    created_by: str


def check_own_bindings(
    session: Session, subjects: Sequence[str], binding_ids: Iterable[int]
) -> list[int]:
    """``binding_ids`` sorted, if every one is a binding of one of ``subjects`` (a user, then
    their SSO groups); else ``InputError`` naming the first that is not (a token can only
    narrow its user's rights)."""
    wanted = sorted(set(binding_ids))
    if not wanted:
        raise InputError("a token needs at least one binding; leave bindings out for all")
    owned = set(
        session.scalars(
            sa.select(BindingRow.id).where(
                BindingRow.subject.in_(list(subjects)), BindingRow.id.in_(wanted)
            )
        )
    )
    for binding_id in wanted:
        if binding_id not in owned:
            raise InputError(
                f"binding {binding_id} is not one of {subjects[0]}'s: a token acts with a subset "
                "of its user's bindings",
                location=Location(path="bindings"),
            )
    return wanted


def _view(row: BindingRow) -> BindingView:
    return BindingView(row.id, row.subject, row.role, row.scope, row.created_at, row.created_by)


def _normalized(subject: str, role: str, scope: str) -> Binding:
    parse_subject(subject)
    role = ROLE_ALIASES.get(role, role)
    return Binding(
        subject=subject, role=role, scope=parse_scope(scope, kind=stored_scope_kind(scope))
    )


def bind_role(
    session: Session,
    *,
    subject: str,
    role: str,
    scope: str,
    actor: Principal,
    development_environments: frozenset[str] | None = None,
) -> BindingRow:
    """Add a binding inside the caller's transaction (``users create --role`` uses it)."""
    rules = tuple(rule_of(row) for row in session.scalars(sa.select(PolicyRuleRow)))
    binding = check_binding(
        Policy(
            rules=rules,
            development_environments=development_environments
            or session_configuration(session).development_environments,
        ),
        _normalized(subject, role, scope),
    )
    row = BindingRow(
        subject=binding.subject,
        role=binding.role,
        scope=str(binding.scope),
        created_at=datetime.now(UTC),
        created_by=actor.name,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "binding.create", str(binding))
    return row


def add_binding(
    sessions: sessionmaker[Session],
    *,
    subject: str,
    role: str,
    scope: str,
    actor: Principal,
    development_environments: frozenset[str] | None = None,
) -> BindingView:
    """Bind ``role`` to ``subject`` within ``scope`` (``binding.manage``).

    Raises ``InputError`` (bad subject, role or scope; a developer beyond development
    environments), ``ConflictError`` (the same binding exists), ``PermissionDeniedError``.
    """
    require(sessions, actor, "binding.manage", development_environments=development_environments)
    try:
        with sessions.begin() as session:
            row = bind_role(
                session,
                subject=subject,
                role=role,
                scope=scope,
                actor=actor,
                development_environments=development_environments,
            )
            return _view(row)
    except IntegrityError:
        raise ConflictError(f"{subject} already holds {role} at {scope}") from None


def bindings_of(sessions: sessionmaker[Session], *, actor: Principal) -> list[BindingView]:
    """The caller's own bindings (their user's and their groups'; a token made for a subset,
    that subset's); anyone may read their own."""
    query = sa.select(BindingRow).where(BindingRow.subject.in_(subjects_of(actor)))
    if actor.bindings is not None:
        query = query.where(BindingRow.id.in_(sorted(actor.bindings)))
    with sessions() as session:
        return [_view(row) for row in session.scalars(query.order_by(BindingRow.id))]


def list_bindings(
    sessions: sessionmaker[Session], *, actor: Principal, subject: str | None = None
) -> list[BindingView]:
    """Every binding (``binding.manage``), optionally of one subject, oldest first."""
    require(sessions, actor, "binding.manage")
    query = sa.select(BindingRow).order_by(BindingRow.id)
    if subject is not None:
        query = query.where(BindingRow.subject == subject)
    with sessions() as session:
        return [_view(row) for row in session.scalars(query)]


def remove_binding(sessions: sessionmaker[Session], binding_id: int, *, actor: Principal) -> None:
    """Delete one binding (``binding.manage``); ``NotFoundError`` when there is none,
    ``ConflictError`` for the last admin binding (nobody could manage access after it)."""
    require(sessions, actor, "binding.manage")
    with sessions.begin() as session:
        row = session.get(BindingRow, binding_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"binding {binding_id} not found")
        if row.role == ADMIN_ROLE:
            _keep_a_signed_in_administrator(session, row)
        audit.record(session, actor, "binding.delete", str(binding_of(row)))
        session.delete(row)


def _keep_a_signed_in_administrator(session: Session, row: BindingRow) -> None:
    """``ConflictError`` when ``row`` is the last admin binding, or when the admin bindings
    left after it name nobody able to sign in while someone able to holds one now (the rule
    ``import_policy`` applies to a whole policy)."""
    others = session.scalars(
        sa.select(BindingRow.subject).where(BindingRow.role == ADMIN_ROLE, BindingRow.id != row.id)
    ).all()
    if not others:
        raise ConflictError(
            f"binding {row.id} is the last admin binding: removing it would leave "
            "nobody able to manage access; bind another admin first"
        )
    states = _subject_states(session, {row.subject, *others})
    if states.get(row.subject) == "active" and not any(
        states.get(subject) == "active" for subject in others
    ):
        raise ConflictError(
            f"binding {row.id} ({row.subject} as admin) is the last admin binding of someone "
            f"able to sign in: the others ({', '.join(sorted(set(others)))}) name no existing, "
            "active user nor a group with an active member; bind such an admin first"
        )


def export_policy(sessions: sessionmaker[Session], *, actor: Principal) -> str:
    """The whole policy as CSV (``policy.manage``)."""
    require(sessions, actor, "policy.manage")
    with sessions() as session:
        return policy_csv(policy_for(session))


def import_policy(
    sessions: sessionmaker[Session],
    text: str,
    *,
    actor: Principal,
    development_environments: frozenset[str] | None = None,
    source: str = "policy.csv",
) -> Policy:
    """Replace every binding and rule with ``text`` (CSV) in one transaction
    (``policy.manage``). A policy that would leave no administrator is refused, so nobody locks
    everyone out: one that binds no admin, and, while the stored policy has an administrator
    able to sign in, one whose admin bindings name none (each admin line is named with why:
    no such user, a disabled one, a group without an active member). Bindings of users that
    do not exist yet are kept otherwise (SSO users appear at their first sign-in). Answers
    the policy as stored, read in the same transaction: the caller may have just given up
    ``policy.manage``. Raises ``InputError`` naming each bad line; nothing changes then."""
    require(sessions, actor, "policy.manage", development_environments=development_environments)
    policy = parse_policy_csv(
        text,
        source=source,
        development_environments=development_environments
        or configuration(sessions).development_environments,
    )
    if not any(binding.role == "admin" for binding in policy.bindings):
        raise InputError(
            "the policy binds no admin: add a line such as 'g, user:admin, role:admin'"
        )
    now = datetime.now(UTC)
    with sessions.begin() as session:
        stored = policy_for(session)
        _keep_an_administrator(session, stored, text, source=source)
        before = policy_csv(stored)
        session.execute(sa.delete(BindingRow))
        session.execute(sa.delete(PolicyRuleRow))
        for rule in policy.rules:
            session.add(
                PolicyRuleRow(
                    role=rule.role,
                    permission=rule.permission,
                    scope=str(rule.scope),
                    effect=rule.effect,
                )
            )
        for binding in dict.fromkeys(policy.bindings):
            session.add(
                BindingRow(
                    subject=binding.subject,
                    role=binding.role,
                    scope=str(binding.scope),
                    created_at=now,
                    created_by=actor.name,
                )
            )
        audit.record(
            session,
            actor,
            "policy.import",
            "policy",
            before={"lines": before.count("\n")},
            after={"lines": policy_csv(policy).count("\n")},
        )
        session.flush()
        return policy_for(session, development_environments=policy.development_environments)


def _keep_an_administrator(session: Session, stored: Policy, text: str, *, source: str) -> None:
    """``InputError`` when the stored policy has an administrator able to sign in and ``text``
    would have none (a store without one, fresh or already locked out, is not made worse)."""
    holders = {binding.subject for binding in stored.bindings if binding.role == ADMIN_ROLE}
    grants = admin_grants(text)
    states = _subject_states(session, holders | {grant.subject for grant in grants})
    if not any(states.get(subject) == "active" for subject in holders):
        return
    refusal = lockout_refusal(grants, states, source=source)
    if refusal is not None:
        raise refusal


def _subject_states(session: Session, subjects: Iterable[str]) -> dict[str, SubjectState]:
    """What the store says of each of ``subjects``: a user who exists and is not disabled, or a
    group an active user's latest single sign-on named, is ``active``; a disabled user is
    ``disabled``; anything else is left out (unknown)."""
    chosen = set(subjects)
    names = {subject[5:] for subject in chosen if subject.startswith("user:")}
    groups = {subject[6:] for subject in chosen if subject.startswith("group:")}
    states: dict[str, SubjectState] = {}
    if names:
        query = sa.select(UserRow.name, UserRow.disabled).where(UserRow.name.in_(sorted(names)))
        for name, disabled in session.execute(query):
            states[f"user:{name}"] = "disabled" if disabled else "active"
    if groups:
        memberships = session.scalars(
            sa.select(OidcIdentityRow.groups)
            .join(UserRow, UserRow.id == OidcIdentityRow.user_id)
            .where(sa.not_(UserRow.disabled), OidcIdentityRow.groups != "")
        )
        for listed in memberships:
            for group in groups.intersection(listed.split("\n")):
                states[f"group:{group}"] = "active"
    return states
