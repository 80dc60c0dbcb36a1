"""Access control (DESIGN §9): the one seam every service asks before it reads or writes.

``require(sessions, actor, permission, target)`` evaluates the caller's bindings with the pure
policy of ``core/access/policy.py``; a denial is audited (``access.deny``) and raises
``PermissionDeniedError`` (403), or ``NotFoundError`` (404) when the caller may not even read the
object, so that an object outside every readable scope looks exactly like a missing one.
Bindings and custom rules live in the database; the policy is importable and exportable as
Argo CD-style CSV. The server itself (``SYSTEM``) and local commands on a store they open
directly (``local_operator``) are always allowed.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_DEVELOPMENT_ENVIRONMENTS",
    "AccessConfiguration",
    "BindingView",
    "access_configuration",
    "add_binding",
    "allowed",
    "allowed_where",
    "bind_role",
    "bindings_of",
    "check_own_bindings",
    "configuration",
    "explain",
    "export_policy",
    "held",
    "import_policy",
    "list_bindings",
    "permissions_of",
    "policy_for",
    "remove_binding",
    "require",
    "require_on",
]

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.access_tables import BindingRow, PolicyRuleRow
from helmforge.adapters.storage.database import engine_of
from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.policy import (
    BUILT_IN_ROLES,
    PERMISSIONS,
    ROLE_ALIASES,
    Binding,
    Decision,
    Policy,
    Rule,
    ScopeKind,
    Target,
    allowed_targets,
    check_binding,
    decide,
    parse_policy_csv,
    parse_scope,
    parse_subject,
    policy_csv,
    scope_filter,
)
from helmforge.core.access.principals import Principal
from helmforge.core.errors import (
    ConflictError,
    InputError,
    Location,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.services import audit

DEFAULT_DEVELOPMENT_ENVIRONMENTS = frozenset({"dev"})
# The server itself, and whoever runs a local command on a store they reach directly: nothing
# stands between them and the database, so a check would only pretend.
_UNCHECKED = frozenset({"system", "local"})


@dataclass(frozen=True, slots=True)
class BindingView:
    id: int
    subject: str
    role: str
    scope: str
    created_at: datetime
    created_by: str


_CONFIGURATION = "helmforge.access"


@dataclass(frozen=True, slots=True)
class AccessConfiguration:
    """The access settings a store's sessions carry: development environments and approvals.

    A store opened from settings (every server, ``open_store``) carries the configured ones
    (``prod=1`` unless HELMFORGE_APPROVALS says otherwise); a bare session factory carries
    these defaults, which ask no approvals.
    """

    development_environments: frozenset[str] = DEFAULT_DEVELOPMENT_ENVIRONMENTS
    approvals: ApprovalRules = field(default_factory=lambda: ApprovalRules(by_environment={}))
    template_review: bool = False


def access_configuration(
    *,
    development_environments: frozenset[str],
    approvals: ApprovalRules,
    template_review: bool = False,
) -> dict[str, AccessConfiguration]:
    """The ``info`` of a session factory that carries these access settings."""
    return {
        _CONFIGURATION: AccessConfiguration(development_environments, approvals, template_review)
    }


def configuration(sessions: sessionmaker[Session]) -> AccessConfiguration:
    """The access settings of ``sessions`` (the defaults when the factory carries none)."""
    info = sessions.kw.get("info") or {}
    found = info.get(_CONFIGURATION)
    return found if isinstance(found, AccessConfiguration) else AccessConfiguration()


def _session_configuration(session: Session) -> AccessConfiguration:
    found = session.info.get(_CONFIGURATION)
    return found if isinstance(found, AccessConfiguration) else AccessConfiguration()


def _subjects(actor: Principal) -> tuple[str, ...]:
    return (f"user:{actor.name}", *(f"group:{group}" for group in actor.groups))


def _scope_kind(scope: str) -> ScopeKind:
    return "context" if "/" in scope else "template"


def _binding(row: BindingRow) -> Binding:
    return Binding(
        subject=row.subject,
        role=row.role,
        scope=parse_scope(row.scope, kind=_scope_kind(row.scope)),
        id=row.id,
    )


def _rule(row: PolicyRuleRow) -> Rule:
    kind = PERMISSIONS.get(row.permission, "context")
    effect: Literal["allow", "deny"] = "deny" if row.effect == "deny" else "allow"
    return Rule(
        role=row.role,
        permission=row.permission,
        scope=parse_scope(row.scope, kind=kind),
        effect=effect,
    )


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


def _narrowed(policy: Policy, actor: Principal) -> Policy:
    """``policy`` with only the bindings a token made for a subset may use."""
    if actor.bindings is None:
        return policy
    kept = tuple(binding for binding in policy.bindings if binding.id in actor.bindings)
    return Policy(kept, policy.rules, policy.development_environments)


_BINDINGS = BindingRow.__table__
_RULES = PolicyRuleRow.__table__


@lru_cache(maxsize=32)
def _actor_policy_statement(subjects: int) -> sa.CompoundSelect[Any]:
    """The actor's bindings (by subject: indexed) and every rule in one round trip, a Core
    statement built once per number of subjects: it runs on every request, the chart-build
    hot path included. Plain ``:s0, :s1, …`` parameters rather than an expanding IN list,
    whose rewriting at each execution cost about a third of a check's CPU time."""
    return sa.union_all(
        sa.select(
            sa.literal_column("'g'").label("line"),
            _BINDINGS.c.id,
            _BINDINGS.c.subject.label("a"),
            _BINDINGS.c.role.label("b"),
            _BINDINGS.c.scope,
            sa.literal_column("''").label("effect"),
        ).where(_BINDINGS.c.subject.in_([sa.bindparam(f"s{i}") for i in range(subjects)])),
        sa.select(
            sa.literal_column("'p'"),
            _RULES.c.id,
            _RULES.c.role,
            _RULES.c.permission,
            _RULES.c.scope,
            _RULES.c.effect,
        ),
    )


@lru_cache(maxsize=8192)
def _parsed_binding(id_: int, subject: str, role: str, scope: str) -> Binding:
    # Pure in its arguments, so a changed row is a new key: nothing to invalidate.
    return Binding(
        subject=subject, role=role, scope=parse_scope(scope, kind=_scope_kind(scope)), id=id_
    )


@lru_cache(maxsize=4096)
def _parsed_rule(role: str, permission: str, scope: str, effect: str) -> Rule:
    chosen: Literal["allow", "deny"] = "deny" if effect == "deny" else "allow"
    kind = PERMISSIONS.get(permission, "context")
    return Rule(
        role=role, permission=permission, scope=parse_scope(scope, kind=kind), effect=chosen
    )


def _actor_policy(
    source: Session | Connection, subjects: Iterable[str], development_environments: frozenset[str]
) -> Policy:
    bindings: list[Binding] = []
    rules: list[Rule] = []
    named = list(subjects)
    parameters = {f"s{i}": subject for i, subject in enumerate(named)}
    for line, id_, a, b, scope, effect in source.execute(
        _actor_policy_statement(len(named)), parameters
    ):
        if line == "g":
            bindings.append(_parsed_binding(id_, a, b, scope))
        else:
            rules.append(_parsed_rule(a, b, scope, effect))
    bindings.sort(key=lambda binding: binding.id)
    return Policy(
        bindings=tuple(bindings),
        rules=tuple(rules),
        development_environments=development_environments,
    )


def policy_for(
    session: Session,
    subjects: Iterable[str] | None = None,
    *,
    development_environments: frozenset[str] | None = None,
) -> Policy:
    """The stored policy: every rule, and the bindings of ``subjects`` (all when ``None``)."""
    if development_environments is None:
        development_environments = _session_configuration(session).development_environments
    if subjects is not None:
        return _actor_policy(session, subjects, development_environments)
    query = sa.select(BindingRow).order_by(BindingRow.id)
    bindings = tuple(_binding(row) for row in session.scalars(query))
    rules = tuple(_rule(row) for row in session.scalars(sa.select(PolicyRuleRow)))
    return Policy(bindings=bindings, rules=rules, development_environments=development_environments)


def _decide(
    session: Session,
    actor: Principal,
    permission: str,
    target: Target,
    development_environments: frozenset[str] | None,
) -> Decision:
    if actor.kind in _UNCHECKED:
        return Decision(True, None, f"{actor.kind} principal: holds every right")
    subjects = _subjects(actor)
    policy = policy_for(session, subjects, development_environments=development_environments)
    return decide(_narrowed(policy, actor), subjects, permission, target)


def _shown(target: Target) -> str:
    if target.context is not None:
        return "/".join(target.context)
    return target.template or "helmforge"


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
    if actor.kind in _UNCHECKED:
        return Decision(True, None, f"{actor.kind} principal: holds every right")
    subjects = _subjects(actor)
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
        policy = _narrowed(_actor_policy(connection, subjects, environments), actor)
    decision = decide(policy, subjects, permission, chosen)
    if decision.allowed:
        return decision
    with sessions.begin() as session:
        audit.record(
            session,
            actor,
            "access.deny",
            _shown(chosen),
            after={"permission": permission, "reason": decision.reason},
        )
        hidden = False
        if hide_as is not None:
            reading = permission.split(".", 1)[0] + ".read"
            hidden = reading not in PERMISSIONS or not _decide(
                session, actor, reading, chosen, development_environments
            )
    if hidden and hide_as is not None:
        raise NotFoundError(hide_as)
    raise PermissionDeniedError(
        f"{actor.name} may not {permission} on {_shown(chosen)}: {decision.reason}"
    )


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
    if actor.kind in _UNCHECKED:
        return Decision(True, None, f"{actor.kind} principal: holds every right")
    subjects = _subjects(actor)
    environments = configuration(sessions).development_environments
    policy = _narrowed(_actor_policy(connection, subjects, environments), actor)
    decision = decide(policy, subjects, permission, target)
    if decision.allowed:
        return decision
    after: dict[str, Any] = {"permission": permission, "reason": decision.reason}
    audit.insert_now(connection, actor, "access.deny", _shown(target), after=after)
    connection.commit()
    raise PermissionDeniedError(
        f"{actor.name} may not {permission} on {_shown(target)}: {decision.reason}"
    )


def allowed(
    sessions: sessionmaker[Session],
    actor: Principal,
    permission: str,
    *,
    development_environments: frozenset[str] | None = None,
) -> Callable[[Target], bool]:
    """A predicate for filtering lists by the same rule ``require`` applies, with the policy
    read once: ``[b for b in builds if can_read(Target.of_context(*b.context))]``."""
    if actor.kind in _UNCHECKED:
        return lambda _target: True
    subjects = _subjects(actor)
    with sessions() as session:
        policy = policy_for(session, subjects, development_environments=development_environments)
    return allowed_targets(_narrowed(policy, actor), subjects, permission)


def held(
    sessions: sessionmaker[Session],
    actor: Principal,
    permissions: Iterable[str],
    target: Target | None = None,
) -> frozenset[str]:
    """Which of ``permissions`` the actor holds on ``target`` (global ones when ``None``), by
    the rule ``require`` applies, with the policy read once: what a page offers."""
    wanted = tuple(permissions)
    if actor.kind in _UNCHECKED:
        return frozenset(wanted)
    subjects = _subjects(actor)
    with sessions() as session:
        policy = _narrowed(policy_for(session, subjects), actor)
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
    if actor.kind in _UNCHECKED:
        return sa.true()
    subjects = _subjects(actor)
    with sessions() as session:
        policy = policy_for(session, subjects, development_environments=development_environments)
    patterns = scope_filter(_narrowed(policy, actor), subjects, permission)
    columns = list(target)
    granted = _matching(patterns.grants, columns)
    if not patterns.denies:
        return granted
    return sa.and_(granted, sa.not_(_matching(patterns.denies, columns)))


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
            session, _subjects(actor), development_environments=development_environments
        )
    policy = _narrowed(policy, actor)
    held: dict[str, set[str]] = {}
    for binding in policy.bindings:
        granted = set(BUILT_IN_ROLES.get(binding.role, frozenset()))
        granted |= {
            r.permission for r in policy.rules if r.role == binding.role and r.effect == "allow"
        }
        for permission in granted:
            held.setdefault(permission, set()).add(str(binding.scope))
    return {permission: sorted(scopes) for permission, scopes in sorted(held.items())}


def _view(row: BindingRow) -> BindingView:
    return BindingView(row.id, row.subject, row.role, row.scope, row.created_at, row.created_by)


def _normalized(subject: str, role: str, scope: str) -> Binding:
    parse_subject(subject)
    role = ROLE_ALIASES.get(role, role)
    return Binding(subject=subject, role=role, scope=parse_scope(scope, kind=_scope_kind(scope)))


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
    rules = tuple(_rule(row) for row in session.scalars(sa.select(PolicyRuleRow)))
    binding = check_binding(
        Policy(
            rules=rules,
            development_environments=development_environments
            or _session_configuration(session).development_environments,
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
    query = sa.select(BindingRow).where(BindingRow.subject.in_(_subjects(actor)))
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
        if row.role == "admin" and _admin_bindings(session) == 1:
            raise ConflictError(
                f"binding {binding_id} is the last admin binding: removing it would leave "
                "nobody able to manage access; bind another admin first"
            )
        audit.record(session, actor, "binding.delete", str(_binding(row)))
        session.delete(row)


def _admin_bindings(session: Session) -> int:
    count = session.scalar(
        sa.select(sa.func.count()).select_from(BindingRow).where(BindingRow.role == "admin")
    )
    return int(count or 0)


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
    everyone out. Answers the policy as stored, read in the same transaction: the caller may
    have just given up ``policy.manage``. Raises ``InputError`` naming each bad line; nothing
    changes then."""
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
        before = policy_csv(policy_for(session))
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
