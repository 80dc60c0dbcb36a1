"""The authorization core: scopes by whole segments, subjects in two namespaces, the built-in
roles of DESIGN §9 as a full matrix, deny rules, developer narrowing, and the CSV policy."""

from __future__ import annotations

import itertools

import pytest

from helmforge.core.access.policy import (
    BUILT_IN_ROLES,
    PERMISSIONS,
    Binding,
    Policy,
    Target,
    allowed_targets,
    check_binding,
    decide,
    parse_policy_csv,
    parse_scope,
    policy_csv,
    scope_filter,
)
from helmforge.core.errors import InputError

PROD = Target.of_context("shop", "acme", "prod", "eu1")
DEV = Target.of_context("shop", "acme", "dev", "a1")


def _policy(*bindings: Binding) -> Policy:
    return Policy(bindings=bindings)


def _bind(subject: str, role: str, scope: str = "*/*/*/*") -> Binding:
    kind = "context" if "/" in scope else "template"
    return Binding(subject=subject, role=role, scope=parse_scope(scope, kind=kind))


# --- scopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "target", "expected"),
    [
        ("*/*/prod/*", ("shop", "acme", "prod", "eu1"), True),
        ("*/*/prod/*", ("shop", "acme", "prod-eu", "eu1"), False),
        ("acme/*/prod/*", ("acme", "x", "prod", "a"), True),
        ("acme/*/prod/*", ("acme-2", "x", "prod", "a"), False),
        ("*/*/*/*", ("a", "b", "c", "d"), True),
        ("a/b/c/d", ("a", "b", "c"), False),
    ],
)
def test_scopes_match_whole_segments(scope: str, target: tuple[str, ...], expected: bool) -> None:
    assert parse_scope(scope).matches(target) is expected


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("*/*/prod*/*", "environment segment 'prod\\*' is neither"),
        ("dev/../prod", "has 3 segment"),
        ("*/*/../*", "environment segment '..'"),
        ("*/*/Prod/*", "environment segment 'Prod'"),
        ("*/*/\u0440rod/*", "environment segment '\u0440rod'"),  # Cyrillic er
        ("*/*/dev", "has 3 segment"),
        ("*/*/dev/*/x", "has 5 segment"),
        ("*/ /dev/*", "customer segment ' '"),
    ],
)
def test_scope_traps_are_refused(scope: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_scope(scope)


def test_a_user_named_like_a_group_is_not_the_group() -> None:
    policy = _policy(_bind("group:platform-sre", "operator"))
    assert decide(policy, ["group:platform-sre"], "values.update", PROD)
    assert not decide(policy, ["user:platform-sre"], "values.update", PROD)


def test_subjects_must_name_their_namespace() -> None:
    with pytest.raises(InputError, match="expected user:NAME or group:NAME"):
        check_binding(Policy(), Binding(subject="alice", role="operator"))


# --- built-in roles: the whole matrix -----------------------------------------------------

# DESIGN §9's table, written out independently of the implementation's role sets.
_CREATOR = {
    "catalog.read", "catalog.import", "schema.read", "schema.import", "template.read",
    "template.create", "template.update", "template.publish", "template.deprecate",
    "template.delete", "chart.preview",
}  # fmt: skip
_USER = {"template.read", "chart.read", "chart.build", "chart.publish", "instance.create",
         "registry.read"}  # fmt: skip
_OPERATOR = {"instance.read", "values.read", "values.update", "instance.upgrade",
             "instance.rollback", "instance.sync", "template.read", "chart.read",
             "registry.read"}  # fmt: skip
_EXPECTED: dict[str, set[str]] = {
    "admin": set(PERMISSIONS),
    "template-creator": _CREATOR,
    "template-user": _USER,
    "operator": _OPERATOR,
    "developer": _USER | _OPERATOR,
    "approver": {"change.approve", "instance.read", "values.read", "chart.read"},
    "auditor": {p for p in PERMISSIONS if p.endswith(".read")},
}
_ENVIRONMENTS = ("dev", "sit", "uat", "prod", "prod-eu")


def _target_for(permission: str, environment: str) -> Target:
    kind = PERMISSIONS[permission]
    if kind == "context":
        return Target.of_context("shop", "acme", environment, "a1")
    if kind == "template":
        return Target(template="web-service")
    return Target()


def test_every_role_permission_environment_combination_is_as_designed() -> None:
    unexpected: list[str] = []
    checked = 0
    for role, permission, environment in itertools.product(
        BUILT_IN_ROLES, PERMISSIONS, _ENVIRONMENTS
    ):
        policy = _policy(_bind("user:someone", role))
        allowed = decide(policy, ["user:someone"], permission, _target_for(permission, environment))
        expected = permission in _EXPECTED[role]
        if role == "developer" and PERMISSIONS[permission] == "context":
            expected = expected and environment == "dev"
        if bool(allowed) != expected:
            unexpected.append(f"{role} {permission} {environment}: {allowed.reason}")
        checked += 1
    assert unexpected == []
    assert checked == len(BUILT_IN_ROLES) * len(PERMISSIONS) * len(_ENVIRONMENTS)


def test_nobody_without_a_binding_may_do_anything() -> None:
    for permission in PERMISSIONS:
        decision = decide(Policy(), ["user:alice"], permission, _target_for(permission, "dev"))
        assert not decision
        assert decision.rule is None


def test_a_scoped_binding_reaches_only_its_scope() -> None:
    policy = _policy(_bind("user:olga", "operator", "acme/*/prod/*"))
    assert decide(
        policy, ["user:olga"], "values.update", Target.of_context("acme", "x", "prod", "a")
    )
    assert not decide(
        policy, ["user:olga"], "values.update", Target.of_context("globex", "x", "prod", "a")
    )
    assert not decide(
        policy, ["user:olga"], "values.update", Target.of_context("acme", "x", "prod-eu", "a")
    )


def test_template_permissions_are_scoped_by_template_name() -> None:
    policy = _policy(_bind("user:carl", "template-creator", "web-service"))
    assert decide(policy, ["user:carl"], "template.publish", Target(template="web-service"))
    assert not decide(policy, ["user:carl"], "template.publish", Target(template="ledger"))


# --- developers ---------------------------------------------------------------------------


def test_a_developer_bound_everywhere_still_reaches_only_development_environments() -> None:
    policy = Policy(
        bindings=(_bind("user:dev", "developer"),),
        development_environments=frozenset({"dev", "sandbox"}),
    )
    assert decide(policy, ["user:dev"], "values.update", DEV)
    assert decide(
        policy, ["user:dev"], "values.update", Target.of_context("shop", "acme", "sandbox", "a")
    )
    decision = decide(policy, ["user:dev"], "values.update", PROD)
    assert not decision
    assert "deny by default" in decision.reason


def test_a_developer_binding_naming_a_production_environment_is_refused() -> None:
    with pytest.raises(InputError, match="cannot reach environment 'prod'"):
        check_binding(Policy(), _bind("user:dev", "developer", "*/*/prod/*"))
    with pytest.raises(InputError, match="takes a context scope"):
        check_binding(Policy(), _bind("user:dev", "developer", "web-service"))
    assert check_binding(Policy(), _bind("user:dev", "developer", "*/*/dev/*"))


# --- policy as CSV ------------------------------------------------------------------------

_CSV = """\
# operators of acme may update values in prod, never elsewhere by this rule
p, role:acme-ops, values, update, acme/*/prod/*, allow
p, role:operator, instance, sync, */*/prod/*, deny
g, user:alice, role:acme-ops
g, group:platform-sre, role:operator
g, user:bob, role:developer, */*/dev/*
"""


def test_policy_csv_reads_rules_and_bindings_and_round_trips() -> None:
    policy = parse_policy_csv(_CSV)
    assert decide(
        policy, ["user:alice"], "values.update", Target.of_context("acme", "s", "prod", "a")
    )
    assert not decide(
        policy, ["user:alice"], "values.update", Target.of_context("globex", "s", "prod", "a")
    )
    assert parse_policy_csv(policy_csv(policy)) == policy


def test_a_deny_rule_wins_over_the_built_in_grant_and_is_named() -> None:
    policy = parse_policy_csv(_CSV)
    decision = decide(policy, ["group:platform-sre"], "instance.sync", PROD)
    assert not decision
    assert decision.rule == "p, role:operator, instance, sync, */*/prod/*, deny"
    assert decide(policy, ["group:platform-sre"], "instance.sync", DEV)


def test_policy_csv_errors_name_every_bad_line() -> None:
    text = (
        "p, role:ops, values, update, */*/prod*/*, allow\n"
        "g, alice, role:operator\n"
        "p, role:ops, values, explode, */*/*/*, allow\n"
        "x, y\n"
        "g, user:bob, role:developer, */*/prod/*\n"
    )
    with pytest.raises(InputError) as raised:
        parse_policy_csv(text, source="policy.csv")
    message = raised.value.message
    for line, fragment in [
        (1, "neither * nor a lowercase"),
        (2, "expected user:NAME or group:NAME"),
        (3, "unknown permission 'values.explode'"),
        (4, "expected p or g"),
        (5, "cannot reach environment 'prod'"),
    ]:
        assert f"policy.csv:{line}: " in message
        assert fragment in message


# --- the list predicate ---------------------------------------------------------------------


DEVELOPMENT_ENVIRONMENTS = (frozenset({"dev"}), frozenset({"dev", "sit"}))


def test_allowed_targets_and_scope_filters_answer_exactly_as_decide_on_random_policies() -> None:
    # Seeded, so every run checks the same 300 policies; each against every permission and a
    # grid of targets, with repeated targets (answered from the predicate's memory).
    random = __import__("random").Random(20261202)
    labels = ("shop", "acme", "dev", "prod", "a1", "*")
    roles = (*BUILT_IN_ROLES, "custom", "blocked")
    subjects = ("user:olga", "group:sre", "user:other")
    targets = [
        Target(context=(p, c, e, i), template=t)
        for p, c, e, i, t in itertools.product(
            ("shop", "lab"), ("acme", "bolt"), ("dev", "sit", "prod"), ("a1",), ("shop", "x")
        )
    ]
    for _ in range(300):
        lines = []
        for _ in range(random.randrange(0, 5)):
            permission = random.choice(list(PERMISSIONS))
            resource, _, action = permission.partition(".")
            kind = PERMISSIONS[permission]
            if kind == "context":
                scope = "/".join(random.choice(labels) for _ in range(4))
            elif kind == "template":
                scope = random.choice(("shop", "x", "*"))
            else:
                scope = "*"
            effect = random.choice(("allow", "deny"))
            lines.append(f"p, role:{random.choice(roles)}, {resource}, {action}, {scope}, {effect}")
        for _ in range(random.randrange(0, 8)):
            role = random.choice(roles)
            if random.random() < 0.3:
                scope = random.choice(("shop", "x", "*"))
            else:
                scope = "/".join(random.choice(labels) for _ in range(4))
            if role == "developer":
                environment = random.choice(("dev", "*"))
                scope = "/".join((*scope.split("/")[:2], environment, "*")) if "/" in scope else "*"
            lines.append(f"g, {random.choice(subjects)}, role:{role}, {scope}")
        lines += [  # the custom roles exist whatever was drawn
            "p, role:custom, chart, read, */*/*/*, allow",
            "p, role:blocked, chart, build, */*/*/*, deny",
        ]
        text = "".join(line + "\n" for line in lines)
        try:
            policy = parse_policy_csv(
                text, development_environments=random.choice(DEVELOPMENT_ENVIRONMENTS)
            )
        except InputError:
            continue  # a developer binding drawn outside the development environments
        asking = ("user:olga", "group:sre")
        for permission in PERMISSIONS:
            check = allowed_targets(policy, asking, permission)
            patterns = scope_filter(policy, asking, permission)
            for target in targets + targets[:3]:
                expected = decide(policy, asking, permission, target).allowed
                assert check(target) is expected, (text, permission, target)
                assert patterns.allows(target) is expected, (text, permission, target)
