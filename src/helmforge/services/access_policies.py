"""The stored policy (DESIGN §9): the access settings a store's sessions carry, and the
bindings and rules of the database read as ``core/access/policy.Policy``.

``access_checks`` asks it for an actor's policy on every check (one statement, parsed rows
cached); ``access_bindings`` for the whole policy when it exports or checks a binding. Callers
outside the access rooms import these names from ``services.access``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_DEVELOPMENT_ENVIRONMENTS",
    "UNCHECKED",
    "AccessConfiguration",
    "access_configuration",
    "actor_policy",
    "binding_of",
    "configuration",
    "narrowed",
    "policy_for",
    "rule_of",
    "session_configuration",
    "stored_scope_kind",
    "subjects_of",
]

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.access_tables import BindingRow, PolicyRuleRow
from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.policy import (
    PERMISSIONS,
    Binding,
    Policy,
    Rule,
    ScopeKind,
    parse_scope,
)
from helmforge.core.access.principals import Principal

DEFAULT_DEVELOPMENT_ENVIRONMENTS = frozenset({"dev"})
#: The server itself, and whoever runs a local command on a store they reach directly: nothing
#: stands between them and the database, so a check would only pretend.
UNCHECKED = frozenset({"system", "local"})

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


def session_configuration(session: Session) -> AccessConfiguration:
    """The access settings of the factory that opened ``session`` (the defaults without)."""
    found = session.info.get(_CONFIGURATION)
    return found if isinstance(found, AccessConfiguration) else AccessConfiguration()


def subjects_of(actor: Principal) -> tuple[str, ...]:
    """The subjects ``actor``'s bindings may name: their user, then their SSO groups."""
    return (f"user:{actor.name}", *(f"group:{group}" for group in actor.groups))


def stored_scope_kind(scope: str) -> ScopeKind:
    """What a stored binding's scope names: a context (it holds ``/``) or a template."""
    return "context" if "/" in scope else "template"


def binding_of(row: BindingRow) -> Binding:
    """A stored binding as the core's ``Binding``."""
    return Binding(
        subject=row.subject,
        role=row.role,
        scope=parse_scope(row.scope, kind=stored_scope_kind(row.scope)),
        id=row.id,
    )


def rule_of(row: PolicyRuleRow) -> Rule:
    """A stored custom rule as the core's ``Rule``."""
    kind = PERMISSIONS.get(row.permission, "context")
    effect: Literal["allow", "deny"] = "deny" if row.effect == "deny" else "allow"
    return Rule(
        role=row.role,
        permission=row.permission,
        scope=parse_scope(row.scope, kind=kind),
        effect=effect,
    )


def narrowed(policy: Policy, actor: Principal) -> Policy:
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
        subject=subject, role=role, scope=parse_scope(scope, kind=stored_scope_kind(scope)), id=id_
    )


@lru_cache(maxsize=4096)
def _parsed_rule(role: str, permission: str, scope: str, effect: str) -> Rule:
    chosen: Literal["allow", "deny"] = "deny" if effect == "deny" else "allow"
    kind = PERMISSIONS.get(permission, "context")
    return Rule(
        role=role, permission=permission, scope=parse_scope(scope, kind=kind), effect=chosen
    )


def actor_policy(
    source: Session | Connection, subjects: Iterable[str], development_environments: frozenset[str]
) -> Policy:
    """The bindings of ``subjects`` and every rule, read in one statement on ``source``."""
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
        development_environments = session_configuration(session).development_environments
    if subjects is not None:
        return actor_policy(session, subjects, development_environments)
    query = sa.select(BindingRow).order_by(BindingRow.id)
    bindings = tuple(binding_of(row) for row in session.scalars(query))
    rules = tuple(rule_of(row) for row in session.scalars(sa.select(PolicyRuleRow)))
    return Policy(bindings=bindings, rules=rules, development_environments=development_environments)
