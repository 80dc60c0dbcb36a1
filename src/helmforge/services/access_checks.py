"""The checks of access control (DESIGN §9): ``require`` before every read and write, and the
same rule as a predicate (``allowed``), a set (``held``) and a WHERE clause (``allowed_where``).

Each evaluates the caller's stored bindings (``access_policies``) with the pure policy of
``core/access/policy.py``. Callers import these names from ``services.access``.
"""

from __future__ import annotations

__all__ = [
    "allowed",
    "allowed_where",
    "allowed_where_each",
    "explain",
    "held",
    "permissions_of",
    "require",
    "require_on",
]

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import engine_of
from helmforge.core.access.policy import (
    BUILT_IN_ROLES,
    PERMISSIONS,
    Decision,
    Policy,
    Target,
    allowed_targets,
    decide,
    parse_scope,
    parse_subject,
    scope_filter,
)
from helmforge.core.access.principals import Principal
from helmforge.core.errors import InputError, NotFoundError, PermissionDeniedError
from helmforge.services import audit
from helmforge.services.access_policies import (
    UNCHECKED,
    actor_policy,
    configuration,
    narrowed,
    policy_for,
    subjects_of,
)


def _decide(
    session: Session,
    actor: Principal,
    permission: str,
    target: Target,
    development_environments: frozenset[str] | None,
) -> Decision:
    if actor.kind in UNCHECKED:
        return Decision(True, None, f"{actor.kind} principal: holds every right")
    subjects = subjects_of(actor)
    policy = policy_for(session, subjects, development_environments=development_environments)
    return decide(narrowed(policy, actor), subjects, permission, target)


def _shown(target: Target) -> str:
    if target.context is not None:
        return "/".join(target.context)
    return target.template or "helmforge"


def _denial(actor: Principal, permission: str, target: Target, reason: str | None) -> str:
    """What a denial says; for a token acting without its SSO user's unconfirmed groups,
    also why, and what renews them."""
    message = f"{actor.name} may not {permission} on {_shown(target)}: {reason}"
    since = actor.groups_unconfirmed_since
    if since is None:
        return message
    return (
        f"{message} (this token acts without {actor.name}'s single sign-on groups: they were "
        f"not confirmed since {since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}; sign in again to "
        "renew them)"
    )


def _denied_event(actor: Principal, permission: str, reason: str | None) -> dict[str, Any]:
    after: dict[str, Any] = {"permission": permission, "reason": reason}
    if actor.groups_unconfirmed_since is not None:
        after["groups_unconfirmed_since"] = actor.groups_unconfirmed_since.isoformat()
    return after


def require(
    sessions: sessionmaker[Session],
    actor: Principal,
    permission: str,
    target: Target | None = None,
    *,
    hide_as: str | None = None,
    development_environments: frozenset[str] | None = None,
) -> Decision:
    """Allow or raise. ``hide_as`` is the message a missing object gets: when the caller may
    not read the object either, the answer is ``NotFoundError(hide_as)`` instead of 403, the
    same answer a missing object gives.

    Every denial writes an ``access.deny`` audit event naming the permission and the target.
    """
    chosen = target or Target()
    if actor.kind in UNCHECKED:
        return Decision(True, None, f"{actor.kind} principal: holds every right")
    subjects = subjects_of(actor)
    environments = (
        configuration(sessions).development_environments
        if development_environments is None
        else development_environments
    )
    # Most checks allow: one statement in autocommit, without a Session or a transaction
    # around it (their BEGIN and COMMIT round trips were most of a check's cost).
    with (
        engine_of(sessions).connect().execution_options(isolation_level="AUTOCOMMIT") as connection
    ):
        policy = narrowed(actor_policy(connection, subjects, environments), actor)
    decision = decide(policy, subjects, permission, chosen)
    if decision.allowed:
        return decision
    with sessions.begin() as session:
        audit.record(
            session,
            actor,
            "access.deny",
            _shown(chosen),
            after=_denied_event(actor, permission, decision.reason),
        )
        hidden = False
        if hide_as is not None:
            reading = permission.split(".", 1)[0] + ".read"
            hidden = reading not in PERMISSIONS or not _decide(
                session, actor, reading, chosen, development_environments
            )
    if hidden and hide_as is not None:
        raise NotFoundError(hide_as)
    raise PermissionDeniedError(_denial(actor, permission, chosen, decision.reason))


def require_on(
    connection: Connection,
    sessions: sessionmaker[Session],
    actor: Principal,
    permission: str,
    target: Target,
) -> Decision:
    """``require`` for hot paths on a Core connection (a chart build): the policy is read with
    the caller's other statements, in its transaction, and a denial's audit event is written
    and committed on that connection before ``PermissionDeniedError`` is raised."""
    if actor.kind in UNCHECKED:
        return Decision(True, None, f"{actor.kind} principal: holds every right")
    subjects = subjects_of(actor)
    environments = configuration(sessions).development_environments
    policy = narrowed(actor_policy(connection, subjects, environments), actor)
    decision = decide(policy, subjects, permission, target)
    if decision.allowed:
        return decision
    after = _denied_event(actor, permission, decision.reason)
    audit.insert_now(connection, actor, "access.deny", _shown(target), after=after)
    connection.commit()
    raise PermissionDeniedError(_denial(actor, permission, target, decision.reason))


def allowed(
    sessions: sessionmaker[Session],
    actor: Principal,
    permission: str,
    *,
    development_environments: frozenset[str] | None = None,
) -> Callable[[Target], bool]:
    """A predicate for filtering lists by the same rule ``require`` applies, with the policy
    read once: ``[b for b in builds if can_read(Target.of_context(*b.context))]``."""
    if actor.kind in UNCHECKED:
        return lambda _target: True
    subjects = subjects_of(actor)
    with sessions() as session:
        policy = policy_for(session, subjects, development_environments=development_environments)
    return allowed_targets(narrowed(policy, actor), subjects, permission)


def held(
    sessions: sessionmaker[Session],
    actor: Principal,
    permissions: Iterable[str],
    target: Target | None = None,
) -> frozenset[str]:
    """Which of ``permissions`` the actor holds on ``target`` (global ones when ``None``), by
    the rule ``require`` applies, with the policy read once: what a page offers."""
    wanted = tuple(permissions)
    if actor.kind in UNCHECKED:
        return frozenset(wanted)
    subjects = subjects_of(actor)
    with sessions() as session:
        policy = narrowed(policy_for(session, subjects), actor)
    chosen = target or Target()
    return frozenset(p for p in wanted if decide(policy, subjects, p, chosen).allowed)


def allowed_where(
    sessions: sessionmaker[Session],
    actor: Principal,
    permission: str,
    target: Sequence[sa.SQLColumnExpression[str]],
    *,
    development_environments: frozenset[str] | None = None,
) -> sa.ColumnElement[bool]:
    """``allowed`` as a WHERE clause, so a list is filtered (and paged) by the database with
    the same rule: the rows whose target the actor may ``permission``. ``target`` holds the
    columns of a row's target, never NULL (``coalesce`` a JSON field to ``''``, as ``Target``
    reads a missing name): product, customer, environment and instance for a context
    permission, the template name for a template permission, nothing for a global one. The
    clause tests a few ``IN`` lists, one per wildcard shape of the actor's bindings
    (``core.access.policy.scope_filter``)."""
    return allowed_where_each(
        sessions, actor, {permission: target}, development_environments=development_environments
    )[permission]


def allowed_where_each(
    sessions: sessionmaker[Session],
    actor: Principal,
    targets: Mapping[str, Sequence[sa.SQLColumnExpression[str]]],
    *,
    development_environments: frozenset[str] | None = None,
) -> dict[str, sa.ColumnElement[bool]]:
    """``allowed_where`` for each permission of ``targets`` (permission -> the columns of its
    target) with the policy read once: a list whose rows need different permissions (the
    change-request inbox, one pair per kind) pays one read, not one per permission."""
    if actor.kind in UNCHECKED:
        return {permission: sa.true() for permission in targets}
    subjects = subjects_of(actor)
    with sessions() as session:
        policy = policy_for(session, subjects, development_environments=development_environments)
    policy = narrowed(policy, actor)
    clauses: dict[str, sa.ColumnElement[bool]] = {}
    for permission, target in targets.items():
        patterns = scope_filter(policy, subjects, permission)
        columns = list(target)
        granted = _matching(patterns.grants, columns)
        clauses[permission] = (
            sa.and_(granted, sa.not_(_matching(patterns.denies, columns)))
            if patterns.denies
            else granted
        )
    return clauses


def _matching(
    patterns: frozenset[tuple[str, ...]], columns: Sequence[sa.SQLColumnExpression[str]]
) -> sa.ColumnElement[bool]:
    """Rows matching any of ``patterns`` (``*``: any value) in ``columns``."""
    shapes: dict[tuple[bool, ...], set[tuple[str, ...]]] = {}
    for pattern in patterns:
        shape = tuple(segment == "*" for segment in pattern)
        named = tuple(segment for segment in pattern if segment != "*")
        shapes.setdefault(shape, set()).add(named)
    clauses: list[sa.ColumnElement[bool]] = []
    for shape, values in sorted(shapes.items()):
        tested = [column for column, star in zip(columns, shape, strict=True) if not star]
        if not tested:
            return sa.true()  # a pattern of all * matches every row
        # One expression per shape, tested against one list (PostgreSQL hashes it): the
        # tested columns joined by '/'. Exact, since a pattern's names hold no '/': a row's
        # joined text equals a pattern's only when it has as many '/' as the pattern, that
        # is when none of its names holds one, and then name by name.
        key = tested[0]
        for column in tested[1:]:
            key = key + "/" + column
        clauses.append(key.in_(sorted("/".join(value) for value in values)))
    return sa.or_(*clauses) if clauses else sa.false()


def permissions_of(
    sessions: sessionmaker[Session],
    actor: Principal,
    *,
    development_environments: frozenset[str] | None = None,
) -> dict[str, list[str]]:
    """For ``GET /me``: each permission the actor holds somewhere, with the scopes it holds it
    in (from built-in roles and allow rules; deny rules are shown by ``explain``)."""
    with sessions() as session:
        policy = policy_for(
            session, subjects_of(actor), development_environments=development_environments
        )
    policy = narrowed(policy, actor)
    held: dict[str, set[str]] = {}
    for binding in policy.bindings:
        granted = set(BUILT_IN_ROLES.get(binding.role, frozenset()))
        granted |= {
            r.permission for r in policy.rules if r.role == binding.role and r.effect == "allow"
        }
        for permission in granted:
            held.setdefault(permission, set()).add(str(binding.scope))
    return {permission: sorted(scopes) for permission, scopes in sorted(held.items())}


def explain(
    sessions: sessionmaker[Session],
    *,
    subject: str,
    permission: str,
    scope: str,
    groups: Iterable[str] = (),
    development_environments: frozenset[str] | None = None,
) -> Decision:
    """What ``helmforge can`` answers: the decision for ``subject`` (``user:NAME`` or a bare
    user name) on ``permission`` at ``scope``, with the line that decided. Offline: reads the
    database directly, records nothing."""
    name = subject if ":" in subject else f"user:{subject}"
    parse_subject(name)
    kind = PERMISSIONS.get(permission)
    if kind is None:
        decide(Policy(), [], permission, Target())  # raises the unknown-permission error
    if kind == "context":
        segments = parse_scope(scope, kind="context", source="scope").segments
        if "*" in segments:
            raise InputError(f"scope {scope!r}: name one instance (no *) to check a permission")
        target = Target.of_context(*segments)
    elif kind == "template":
        target = Target(template=parse_scope(scope, kind="template").segments[0])
    else:
        target = Target()
    subjects = [name, *(f"group:{group}" for group in groups)]
    with sessions() as session:
        policy = policy_for(session, subjects, development_environments=development_environments)
    return decide(policy, subjects, permission, target)
