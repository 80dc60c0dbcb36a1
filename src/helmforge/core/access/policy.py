"""Authorization (DESIGN §9): ``(subjects, permission, target) -> Decision``, deny by default.

A *permission* is ``<resource>.<action>`` (the names the audit log uses); a *role* is a set of
permissions; a *binding* gives a subject a role within a *scope*. Subjects are ``user:NAME`` and
``group:NAME``: two namespaces compared as whole strings, so a user named like a group is never
that group. Context scopes are four segments ``product/customer/environment/instance``, each a
literal DNS-1123 label or ``*``, matched segment by segment and never by prefix (``prod`` is not
``prod-eu``); template scopes are one template name or ``*``.

Policies are data: ``Policy(bindings, rules, development_environments)``. ``decide`` returns the
rule that decided, so ``helmforge can`` explains an answer as ``argocd admin settings rbac can``
does. A ``deny`` rule that matches wins over every ``allow``.
"""

from __future__ import annotations

__all__ = [
    "BUILT_IN_ROLES",
    "PERMISSIONS",
    "ROLE_ALIASES",
    "Binding",
    "Decision",
    "Policy",
    "Rule",
    "Scope",
    "ScopeFilter",
    "ScopeKind",
    "Target",
    "allowed_targets",
    "check_binding",
    "decide",
    "parse_policy_csv",
    "parse_scope",
    "parse_subject",
    "policy_csv",
    "scope_filter",
    "scope_kind_of",
]

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from helmforge.core.errors import InputError, Location

type ScopeKind = Literal["context", "template", "global"]

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_SUBJECT = re.compile(r"(?P<kind>user|group):(?P<name>[A-Za-z0-9][A-Za-z0-9._@-]{0,127})\Z")
_CONTEXT_SEGMENTS = ("product", "customer", "environment", "instance")

# Every permission and what its scope names. Resource names follow the audit log's actions.
PERMISSIONS: Mapping[str, ScopeKind] = {
    "template.read": "template",
    "template.create": "template",
    "template.update": "template",
    "template.publish": "template",
    "template.deprecate": "template",
    "template.delete": "template",
    "chart.preview": "template",
    "catalog.read": "global",
    "catalog.import": "global",
    "schema.read": "global",
    "schema.import": "global",
    "chart.read": "context",
    "chart.build": "context",
    "chart.publish": "context",
    "instance.read": "context",
    "instance.create": "context",
    "values.read": "context",
    "values.update": "context",
    "instance.upgrade": "context",
    "instance.rollback": "context",
    "instance.sync": "context",
    "change.approve": "context",
    "audit.read": "global",
    "user.manage": "global",
    "binding.manage": "global",
    "policy.manage": "global",
    "registry.read": "global",
    "registry.manage": "global",
    "repository.manage": "global",
    "argocd.manage": "global",
}

_TEMPLATE_USE = ("template.read", "chart.read", "chart.build", "chart.publish", "instance.create")
_OPERATE = (
    "instance.read",
    "values.read",
    "values.update",
    "instance.upgrade",
    "instance.rollback",
    "instance.sync",
)
BUILT_IN_ROLES: Mapping[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "template-creator": frozenset(
        {
            "catalog.read",
            "catalog.import",
            "schema.read",
            "schema.import",
            "template.read",
            "template.create",
            "template.update",
            "template.publish",
            "template.deprecate",
            "template.delete",
            "chart.preview",
        }
    ),
    "template-user": frozenset({*_TEMPLATE_USE, "registry.read"}),
    "operator": frozenset({*_OPERATE, "template.read", "chart.read", "registry.read"}),
    "developer": frozenset({*_TEMPLATE_USE, *_OPERATE, "registry.read"}),
    "approver": frozenset({"change.approve", "instance.read", "values.read", "chart.read"}),
    "auditor": frozenset(p for p in PERMISSIONS if p.endswith(".read")),
}
DEVELOPER_ROLE = "developer"
#: Role names of earlier releases, still accepted where a role is named (``users create``).
ROLE_ALIASES: Mapping[str, str] = {"creator": "template-creator", "user": "template-user"}


def scope_kind_of(permission: str) -> ScopeKind:
    """The kind of scope ``permission`` is checked in; ``InputError`` for an unknown one."""
    try:
        return PERMISSIONS[permission]
    except KeyError:
        known = ", ".join(sorted(PERMISSIONS))
        raise InputError(
            f"unknown permission {permission!r}; known: {known}",
            location=Location(path="permission"),
        ) from None


@dataclass(frozen=True, slots=True)
class Scope:
    """A scope pattern: four segments for contexts, one for templates; ``*`` matches any."""

    segments: tuple[str, ...]

    def __str__(self) -> str:
        return "/".join(self.segments)

    def matches(self, target: tuple[str, ...]) -> bool:
        """True when every segment is ``*`` or equals the target's whole segment."""
        if len(target) != len(self.segments):
            return False
        return all(s in ("*", t) for s, t in zip(self.segments, target, strict=True))


ANY_CONTEXT = Scope(("*", "*", "*", "*"))
ANY_TEMPLATE = Scope(("*",))


def parse_scope(text: str, *, kind: ScopeKind = "context", source: str = "scope") -> Scope:
    """Read a scope; segments are ``*`` or lowercase DNS-1123 labels, nothing in between.

    ``prod*``, ``..``, ``Prod``, Unicode look-alikes and a wrong segment count raise
    ``InputError`` saying what a valid scope looks like.
    """
    where = Location(path=source)
    if kind == "global":
        if text not in ("", "*"):
            raise InputError(
                f"scope {text!r}: this permission takes no scope; use *", location=where
            )
        return ANY_TEMPLATE
    segments = tuple(text.split("/"))
    expected = 4 if kind == "context" else 1
    shape = "PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE" if kind == "context" else "TEMPLATE"
    if len(segments) != expected:
        raise InputError(
            f"scope {text!r} has {len(segments)} segment(s): expected {shape}, each a "
            "lowercase name or *",
            location=where,
        )
    for position, segment in enumerate(segments):
        if segment != "*" and not _LABEL.match(segment):
            name = _CONTEXT_SEGMENTS[position] if kind == "context" else "template"
            raise InputError(
                f"scope {text!r}: {name} segment {segment!r} is neither * nor a lowercase "
                "DNS-1123 label (a whole name: no wildcards inside, no '..')",
                location=where,
            )
    return Scope(segments)


def parse_subject(text: str, *, source: str = "subject") -> str:
    """``user:NAME`` or ``group:NAME`` exactly; anything else raises ``InputError``."""
    if not _SUBJECT.match(text):
        raise InputError(
            f"subject {text!r} is invalid: expected user:NAME or group:NAME",
            location=Location(path=source),
        )
    return text


@dataclass(frozen=True, slots=True)
class Binding:
    """``subject`` holds ``role`` within ``scope`` (context or template scope)."""

    subject: str
    role: str
    scope: Scope = ANY_CONTEXT
    id: int = 0

    def __str__(self) -> str:
        return f"g, {self.subject}, role:{self.role}, {self.scope}"


@dataclass(frozen=True, slots=True)
class Rule:
    """A policy line ``p, role:ROLE, RESOURCE, ACTION, SCOPE, allow|deny``."""

    role: str
    permission: str
    scope: Scope
    effect: Literal["allow", "deny"]

    def __str__(self) -> str:
        resource, _, action = self.permission.partition(".")
        return f"p, role:{self.role}, {resource}, {action}, {self.scope}, {self.effect}"


@dataclass(frozen=True, slots=True)
class Target:
    """What a permission is asked for: a context, a template name, or nothing (global)."""

    context: tuple[str, str, str, str] | None = None
    template: str | None = None

    @classmethod
    def of_context(cls, product: str, customer: str, environment: str, instance: str) -> Target:
        return cls(context=(product, customer, environment, instance))

    def segments(self, kind: ScopeKind) -> tuple[str, ...] | None:
        if kind == "context":
            return self.context
        if kind == "template":
            return (self.template,) if self.template is not None else None
        return ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer and the line that gave it (``None`` when nothing matched: deny by default)."""

    allowed: bool
    rule: str | None
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class Policy:
    """Bindings and custom rules; ``development_environments`` bound the developer role."""

    bindings: tuple[Binding, ...] = ()
    rules: tuple[Rule, ...] = ()
    development_environments: frozenset[str] = field(default_factory=lambda: frozenset({"dev"}))

    def roles_of(self, subjects: Iterable[str]) -> list[Binding]:
        wanted = set(subjects)
        return [binding for binding in self.bindings if binding.subject in wanted]


def check_binding(policy: Policy, binding: Binding) -> Binding:
    """``binding`` if it can exist under ``policy``; ``InputError`` otherwise.

    The role must be built in or defined by a rule; a developer binding must leave the
    environment open (``*``, narrowed to the development environments when checked) or name a
    development environment.
    """
    parse_subject(binding.subject)
    known = set(BUILT_IN_ROLES) | {rule.role for rule in policy.rules}
    if binding.role not in known:
        raise InputError(
            f"role {binding.role!r} is unknown; roles: {', '.join(sorted(known))}",
            location=Location(path="role"),
        )
    segments = binding.scope.segments
    if binding.role == DEVELOPER_ROLE:
        if len(segments) != 4:
            raise InputError(
                f"a developer binding takes a context scope (PRODUCT/CUSTOMER/ENVIRONMENT/"
                f"INSTANCE), not {binding.scope}",
                location=Location(path="scope"),
            )
        environment = segments[2]
        if environment != "*" and environment not in policy.development_environments:
            allowed = ", ".join(sorted(policy.development_environments))
            raise InputError(
                f"a developer binding cannot reach environment {environment!r}: developers "
                f"act only in the development environments ({allowed})",
                location=Location(path="scope"),
            )
    return binding


def _covers(scope: Scope, kind: ScopeKind, segments: tuple[str, ...]) -> bool:
    """A scope of all ``*`` covers every target; otherwise segment by segment, same length."""
    return kind == "global" or all(s == "*" for s in scope.segments) or scope.matches(segments)


def _developer_allows(
    policy: Policy, binding: Binding, kind: ScopeKind, segments: tuple[str, ...]
) -> bool:
    if binding.role != DEVELOPER_ROLE or kind != "context":
        return True
    return segments[2] in policy.development_environments


def decide(policy: Policy, subjects: Iterable[str], permission: str, target: Target) -> Decision:
    """Whether any of ``subjects`` may do ``permission`` on ``target``, and which line says so.

    A binding counts when its scope covers the target (for a global permission every binding
    counts); a developer binding never reaches past the development environments. A ``deny``
    rule of a counting binding's role that covers the target wins; then the first built-in
    grant or ``allow`` rule decides; nothing matching is a deny. Raises ``InputError`` for an
    unknown permission.
    """
    kind = scope_kind_of(permission)
    segments = target.segments(kind)
    if segments is None:
        return Decision(False, None, f"{permission} needs a {kind} to be checked against")
    counting = [
        binding
        for binding in policy.roles_of(subjects)
        if _covers(binding.scope, kind, segments)
        and _developer_allows(policy, binding, kind, segments)
    ]
    mine = [rule for rule in policy.rules if rule.permission == permission]
    for binding in counting:
        for rule in mine:
            if (
                rule.role == binding.role
                and rule.effect == "deny"
                and _covers(rule.scope, kind, segments)
            ):
                return Decision(False, str(rule), f"denied by '{rule}' through '{binding}'")
    for binding in counting:
        if permission in BUILT_IN_ROLES.get(binding.role, frozenset()):
            return Decision(
                True, str(binding), f"'{binding}': built-in role {binding.role} holds {permission}"
            )
        for rule in mine:
            if (
                rule.role == binding.role
                and rule.effect == "allow"
                and _covers(rule.scope, kind, segments)
            ):
                return Decision(True, str(rule), f"allowed by '{rule}' through '{binding}'")
    shown = "/".join(segments) if kind != "global" else "helmforge"
    return Decision(False, None, f"no binding grants {permission} on {shown} (deny by default)")


def allowed_targets(
    policy: Policy, subjects: Iterable[str], permission: str
) -> Callable[[Target], bool]:
    """``decide(policy, subjects, permission, target).allowed`` as a predicate for filtering
    long lists: the subjects' bindings are indexed by scope once, so a target costs a few dict
    lookups and a ``decide`` over only the bindings that cover it, however many there are.

    Exact, not an approximation: a binding whose role neither holds ``permission`` built in
    nor has a rule for it, or whose scope cannot cover a target of this kind, never changes a
    decision, and neither does the order of the covering bindings. Repeated targets are
    answered from memory (a predicate lives for one listing).
    """
    subjects = tuple(subjects)
    kind = scope_kind_of(permission)
    if kind == "global":
        answer = decide(policy, subjects, permission, Target()).allowed
        return lambda _target: answer
    width = 4 if kind == "context" else 1
    rules = tuple(rule for rule in policy.rules if rule.permission == permission)
    ruled = {rule.role for rule in rules}
    index: dict[tuple[str, ...], list[Binding]] = {}
    for binding in policy.roles_of(subjects):
        if binding.role not in ruled and permission not in BUILT_IN_ROLES.get(
            binding.role, frozenset()
        ):
            continue
        segments = binding.scope.segments
        if all(segment == "*" for segment in segments):
            segments = ("*",) * width  # an all-* scope covers every kind (see _covers)
        elif len(segments) != width:
            continue
        index.setdefault(segments, []).append(binding)
    # Only the wildcard shapes some binding has: usually one or two lookups per target.
    shapes = sorted({tuple(segment == "*" for segment in key) for key in index})
    reduced = Policy(rules=rules, development_environments=policy.development_environments)
    memory: dict[tuple[str, ...], bool] = {}

    def check(target: Target) -> bool:
        segments = target.segments(kind)
        if segments is None:
            return False
        known = memory.get(segments)
        if known is not None:
            return known
        covering: list[Binding] = []
        for shape in shapes:
            key = tuple("*" if star else s for star, s in zip(shape, segments, strict=True))
            covering += index.get(key, ())
        if any(binding.role in ruled for binding in covering):
            answer = bool(
                decide(replace(reduced, bindings=tuple(covering)), subjects, permission, target)
            )
        else:  # no rule can apply: ``decide`` comes down to a built-in grant that counts
            answer = any(_developer_allows(policy, binding, kind, segments) for binding in covering)
        memory[segments] = answer
        return answer

    return check


Pattern = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScopeFilter:
    """Which targets one permission reaches, as patterns a database can test: a target is
    allowed when it matches a pattern of ``grants`` and none of ``denies``. A pattern has a
    segment per target segment (four for contexts, one for templates, none for a global
    permission), each a whole name or ``*``."""

    kind: ScopeKind
    grants: frozenset[Pattern]
    denies: frozenset[Pattern]

    def allows(self, target: Target) -> bool:
        """The filter's answer for one target (``decide``'s, as ``scope_filter`` promises)."""
        segments = target.segments(self.kind)
        if segments is None:
            return False

        def matched(patterns: frozenset[Pattern]) -> bool:
            return any(
                all(p in ("*", s) for p, s in zip(pattern, segments, strict=True))
                for pattern in patterns
            )

        return matched(self.grants) and not matched(self.denies)


def _meet(first: Pattern, second: Pattern) -> Pattern | None:
    """The targets both patterns match, as one pattern (``None``: no target matches both)."""
    met = []
    for a, b in zip(first, second, strict=True):
        if a in ("*", b):
            met.append(b)
        elif b == "*":
            met.append(a)
        else:
            return None
    return tuple(met)


def scope_filter(policy: Policy, subjects: Iterable[str], permission: str) -> ScopeFilter:
    """``decide(policy, subjects, permission, target).allowed`` for every target at once, as
    patterns (for listing straight from the database with the same rule).

    A counting binding is its scope, a developer's narrowed to each development environment;
    a built-in grant adds that pattern to ``grants``, and a rule of the binding's role adds
    where the rule's scope meets it to ``grants`` (allow) or ``denies`` (deny). A target
    then matches a deny pattern exactly when ``decide`` finds a deny rule through a counting
    binding, and a grant pattern exactly when it finds a grant: exact, not an approximation.
    """
    subjects = tuple(subjects)
    kind = scope_kind_of(permission)
    if kind == "global":
        answer = decide(policy, subjects, permission, Target()).allowed
        return ScopeFilter(kind, frozenset({()} if answer else ()), frozenset())
    width = 4 if kind == "context" else 1

    def widened(scope: Scope) -> Pattern | None:
        if all(segment == "*" for segment in scope.segments):
            return ("*",) * width  # an all-* scope covers every kind (see _covers)
        return scope.segments if len(scope.segments) == width else None

    rules = [rule for rule in policy.rules if rule.permission == permission]
    grants: set[Pattern] = set()
    denies: set[Pattern] = set()
    for binding in policy.roles_of(subjects):
        pattern = widened(binding.scope)
        if pattern is None:
            continue
        reached: list[Pattern | None] = [pattern]
        if binding.role == DEVELOPER_ROLE and kind == "context":
            reached = [
                _meet(pattern, ("*", "*", environment, "*"))
                for environment in sorted(policy.development_environments)
            ]
        for counting in (p for p in reached if p is not None):
            if permission in BUILT_IN_ROLES.get(binding.role, frozenset()):
                grants.add(counting)
            for rule in rules:
                scope = widened(rule.scope) if rule.role == binding.role else None
                met = None if scope is None else _meet(counting, scope)
                if met is not None:
                    (grants if rule.effect == "allow" else denies).add(met)
    return ScopeFilter(kind, frozenset(grants), frozenset(denies))


def parse_policy_csv(
    text: str,
    *,
    source: str = "policy.csv",
    development_environments: frozenset[str] = frozenset({"dev"}),
) -> Policy:
    """Read Argo CD-style policy lines; every problem at once, each with its line.

    ``p, role:ROLE, RESOURCE, ACTION, SCOPE, allow|deny`` adds a rule (SCOPE ``*`` for global
    permissions); ``g, user:NAME|group:NAME, role:ROLE[, SCOPE]`` binds a subject (default
    scope ``*/*/*/*``). ``#`` starts a comment. Raises ``InputError`` listing each bad line.
    """
    rules: list[Rule] = []
    grants: list[tuple[int, Binding]] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [part.strip() for part in line.split(",")]
        try:
            if fields[0] == "p":
                rules.append(_read_rule(fields, source=f"{source}:{number}"))
            elif fields[0] == "g":
                grants.append((number, _read_grant(fields, source=f"{source}:{number}")))
            else:
                raise InputError(f"line starts with {fields[0]!r}: expected p or g")
        except InputError as error:
            problems.append(f"{source}:{number}: {error.message}")
    policy = Policy(rules=tuple(rules), development_environments=development_environments)
    for number, binding in grants:
        try:
            check_binding(policy, binding)
        except InputError as error:
            problems.append(f"{source}:{number}: {error.message}")
    if problems:
        # Each problem already names its line (``policy.csv:2: ...``).
        raise InputError("; ".join(problems))
    return Policy(
        bindings=tuple(binding for _, binding in grants),
        rules=tuple(rules),
        development_environments=development_environments,
    )


def _role_name(text: str) -> str:
    if not text.startswith("role:") or not _LABEL.match(text[5:]):
        raise InputError(f"{text!r} is not role:NAME (NAME a lowercase DNS-1123 label)")
    return text[5:]


def _read_rule(fields: list[str], *, source: str) -> Rule:
    if len(fields) != 6:
        raise InputError(
            f"a p line has 6 fields (p, role:ROLE, RESOURCE, ACTION, SCOPE, allow|deny), "
            f"not {len(fields)}"
        )
    _, role, resource, action, scope_text, effect = fields
    permission = f"{resource}.{action}"
    kind = scope_kind_of(permission)
    if effect == "allow":
        chosen: Literal["allow", "deny"] = "allow"
    elif effect == "deny":
        chosen = "deny"
    else:
        raise InputError(f"effect {effect!r} is neither allow nor deny")
    scope = parse_scope(scope_text, kind=kind, source=source)
    return Rule(role=_role_name(role), permission=permission, scope=scope, effect=chosen)


def _read_grant(fields: list[str], *, source: str) -> Binding:
    if len(fields) not in (3, 4):
        raise InputError(
            f"a g line has 3 or 4 fields (g, SUBJECT, role:ROLE[, SCOPE]), not {len(fields)}"
        )
    subject = parse_subject(fields[1], source=source)
    role = _role_name(fields[2])
    scope_text = fields[3] if len(fields) == 4 else "*/*/*/*"
    kind: ScopeKind = "context" if "/" in scope_text or scope_text == "*/*/*/*" else "template"
    return Binding(
        subject=subject, role=role, scope=parse_scope(scope_text, kind=kind, source=source)
    )


def policy_csv(policy: Policy) -> str:
    """The policy as CSV lines that ``parse_policy_csv`` reads back to the same policy."""
    lines = [str(rule) for rule in policy.rules]
    lines += [str(binding) for binding in policy.bindings]
    return "".join(line + "\n" for line in lines)
