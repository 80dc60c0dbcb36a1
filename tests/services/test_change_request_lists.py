"""The change-request inbox is filtered and paged by the database (``access.allowed_where`` over
the requests' target columns) and answers exactly what the access rule answers request by
request (``decide`` through ``access.allowed``: the requester, or the kind's approver or reader
permission at its target), on SQLite and PostgreSQL, for random policies and requests; and the
``access_0004`` migration fills the target columns of requests stored before it."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.access_tables import BindingRow, ChangeRequestRow
from helmforge.adapters.storage.database import create_database_engine, migrate, session_factory
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.services import access, change_request_records, change_requests
from helmforge.services.change_request_targets import columns_of, parse_target
from helmforge.services.paging import PageRequest

ADMIN = Principal(name="root", role="admin", kind="user", id=1)
OLGA = Principal(name="olga", role="template-user", kind="user", id=2, groups=("sre",))
START = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = "g, user:root, role:admin, */*/*/*\n"

PRODUCTS, CUSTOMERS, ENVIRONMENTS, INSTANCES = (
    ("shop", "lab"),
    ("acme", "bolt"),
    (
        "dev",
        "sit",
        "prod",
    ),
    ("a1", "b2"),
)
TEMPLATES = ("web", "api", "worker")
KINDS = tuple(change_requests.OPERATIONS)
STATES = ("pending", "applied", "rejected", "stale")
CONTEXT_ROLES = ("operator", "approver", "auditor", "template-user", "custom")
TEMPLATE_ROLES = ("template-creator", "template-user", "auditor", "custom")
RULE_PERMISSIONS = ("change.approve", "instance.read", "chart.read")
TEMPLATE_PERMISSIONS = ("template.read", "template.publish")


def _segment(chance: random.Random, names: tuple[str, ...]) -> str:
    return "*" if chance.random() < 0.5 else chance.choice(names)


def _context_scope(chance: random.Random) -> str:
    return "/".join(
        _segment(chance, names) for names in (PRODUCTS, CUSTOMERS, ENVIRONMENTS, INSTANCES)
    )


def random_policy(seed: int) -> str:
    """Olga's (and her group's) bindings and custom rules: scopes at every segment, template
    names, developers, allow and deny rules."""
    chance = random.Random(seed)
    # The custom role exists only through a rule of its own.
    lines = [f"p, role:custom, chart, read, {_context_scope(chance)}, allow"]
    for _ in range(chance.randint(0, 4)):
        subject = chance.choice(("user:olga", "group:sre", "group:other"))
        if chance.random() < 0.3:
            role = chance.choice(TEMPLATE_ROLES)
            scope = chance.choice((*TEMPLATES, "*"))
        else:
            role = chance.choice(CONTEXT_ROLES)
            scope = _context_scope(chance)
        lines.append(f"g, {subject}, role:{role}, {scope}")
    if chance.random() < 0.3:
        lines.append("g, user:olga, role:developer, */*/*/*")
    for _ in range(chance.randint(0, 4)):
        role = chance.choice(("custom", "operator", "approver", "auditor", "developer"))
        effect = chance.choice(("allow", "deny"))
        if chance.random() < 0.3:
            resource, action = chance.choice(TEMPLATE_PERMISSIONS).split(".")
            scope = chance.choice((*TEMPLATES, "*"))
        else:
            resource, action = chance.choice(RULE_PERMISSIONS).split(".")
            scope = _context_scope(chance)
        lines.append(f"p, role:{role}, {resource}, {action}, {scope}, {effect}")
    return "".join(f"{line}\n" for line in lines)


def _random_target(chance: random.Random) -> str:
    roll = chance.random()
    if roll < 0.6:
        return "/".join(
            chance.choice(names) for names in (PRODUCTS, CUSTOMERS, ENVIRONMENTS, INSTANCES)
        )
    if roll < 0.9:
        return chance.choice(TEMPLATES)
    # What a target with neither context nor template was written as; and an odd context.
    return chance.choice(("helmforge", "shop//dev/a1"))


def _row(number: int, *, kind: str, target: str, requester: str, state: str) -> dict[str, Any]:
    parts = target.split("/")
    return {
        "kind": kind,
        "target": target,
        "environment": parts[2] if len(parts) == 4 else "",
        "payload": {"number": number},
        "diff": "",
        "base": "",
        "requester": requester,
        "requester_groups": [],
        "required": 1,
        "state": state,
        "editors": [],
        "approvals": [],
        "rejected_by": None,
        "result": None,
        "created_at": START,
        "updated_at": START,
    }


def random_requests(seed: int, count: int) -> list[dict[str, Any]]:
    """Requests of every kind, at contexts and templates (also where a kind's permissions
    cannot reach, as a template target of a chart publish), by Olga and others."""
    chance = random.Random(seed)
    return [
        _row(
            number,
            kind=chance.choice(KINDS),
            target=_random_target(chance),
            requester=chance.choice(("olga", "root", "ben", "carl")),
            state=chance.choice(STATES),
        )
        for number in range(count)
    ]


def _store(sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    """Store ``rows`` as new requests, and the administrator's binding if it is missing."""
    with sessions.begin() as session:
        if not session.scalar(sa.select(sa.func.count()).select_from(BindingRow)):
            access.bind_role(
                session, subject="user:root", role="admin", scope="*/*/*/*", actor=SYSTEM
            )
        for row in rows:
            session.add(ChangeRequestRow(**row, **columns_of(row["target"])))


def expected_ids(
    sessions: sessionmaker[Session], actor: Principal, state: str | None = None
) -> list[int]:
    """The oracle: the rule the inbox applied in Python before it moved into SQL."""
    predicates: dict[str, Any] = {}

    def allowed(permission: str, target: Target) -> bool:
        if permission not in predicates:
            predicates[permission] = access.allowed(sessions, actor, permission)
        return bool(predicates[permission](target))

    with sessions() as session:
        rows = session.scalars(sa.select(ChangeRequestRow).order_by(ChangeRequestRow.id.desc()))
        found = []
        for row in rows:
            if state is not None and row.state != state:
                continue
            operation = change_request_records.operation_of(row.kind)
            target = parse_target(row.target)
            if (
                row.requester == actor.name
                or allowed(operation.approver_permission, target)
                or allowed(operation.reader_permission, target)
            ):
                found.append(row.id)
    return found


@pytest.mark.parametrize("seed", range(8))
def test_the_inbox_from_the_database_answers_as_the_rule_answers_request_by_request(
    sessions: sessionmaker[Session], seed: int
) -> None:
    _store(sessions, random_requests(seed, 120))
    policy = random_policy(seed)
    access.import_policy(sessions, ROOT + policy, actor=ADMIN)
    for state in (None, "pending", "applied"):
        wanted = expected_ids(sessions, OLGA, state)
        listed = change_requests.list_requests(sessions, actor=OLGA, state=state)
        assert [view.id for view in listed] == wanted, policy
        pages = max(1, -(-len(wanted) // 9))
        for number in range(1, pages + 2):
            page = change_requests.page_requests(
                sessions, actor=OLGA, page=PageRequest(number, 9), state=state
            )
            shown = min(number, pages)
            assert page.total == len(wanted)
            assert [view.id for view in page.items] == wanted[(shown - 1) * 9 : shown * 9]
    # An administrator too: a kind's permissions reach only targets of their scope kind, so
    # even they do not see a chart publish whose target is a template name.
    everyone = [view.id for view in change_requests.list_requests(sessions, actor=ADMIN)]
    assert everyone == expected_ids(sessions, ADMIN)


def test_the_random_policies_reach_some_requests_and_not_others(
    sessions: sessionmaker[Session],
) -> None:
    # The seeds above are worth running only if they cover both sides of the rule.
    _store(sessions, random_requests(99, 120))
    mine = {view.id for view in change_requests.list_requests(sessions, actor=OLGA)}
    seen_more = seen_less = False
    for seed in range(8):
        access.import_policy(sessions, ROOT + random_policy(seed), actor=ADMIN)
        visible = set(expected_ids(sessions, OLGA))
        seen_more |= len(visible) > len(mine)
        seen_less |= len(visible) < 120
    assert seen_more
    assert seen_less


def test_a_page_of_the_inbox_loads_only_its_own_rows(sessions: sessionmaker[Session]) -> None:
    # The defect: the inbox read the newest 500 requests into Python and filtered them there.
    _store(sessions, random_requests(3, 200))
    access.import_policy(sessions, ROOT + "g, user:olga, role:approver, shop/*/*/*\n", actor=ADMIN)
    loaded: list[object] = []
    sa.event.listen(sessions, "loaded_as_persistent", lambda _s, row: loaded.append(row))
    page = change_requests.page_requests(sessions, actor=OLGA, page=PageRequest(2, 5))
    assert len(page.items) == 5 < page.total
    assert len([row for row in loaded if isinstance(row, ChangeRequestRow)]) == 5
    assert all(view.target.startswith("shop/") or view.requester == "olga" for view in page.items)


def test_the_inbox_search_matches_kind_target_and_requester(
    sessions: sessionmaker[Session],
) -> None:
    _store(sessions, random_requests(5, 60))
    page = change_requests.page_requests(
        sessions, actor=ADMIN, page=PageRequest(1, 100, query="LAB/bolt")
    )
    assert page.items
    assert all(view.target.startswith("lab/bolt/") for view in page.items)
    by_carl = change_requests.page_requests(
        sessions, actor=ADMIN, page=PageRequest(1, 100, query="carl")
    )
    assert by_carl.items
    assert {view.requester for view in by_carl.items} == {"carl"}


def test_the_migration_fills_the_target_columns_of_old_requests(database_url: str) -> None:
    engine: Engine = create_database_engine(database_url)
    try:
        migrate(engine, target="access_0003")
        old = random_requests(11, 40)
        old.append(
            _row(40, kind="template.publish", target="web", requester="ben", state="pending")
        )
        old.append(
            _row(
                41,
                kind="values.update",
                target="shop/acme/prod/a1",
                requester="ben",
                state="pending",
            )
        )
        # The table as access_0002 made it: no target columns yet.
        columns = ChangeRequestRow.__table__.c
        before = sa.table(
            "change_requests", *(sa.column(n, columns[n].type) for n in ("id", *old[0]))
        )
        with engine.begin() as connection:
            connection.execute(
                sa.insert(before), [{**row, "id": number + 1} for number, row in enumerate(old)]
            )
        migrate(engine)
        sessions = session_factory(engine)
        _store(sessions, [])
        with sessions() as session:
            stored = {row.id: row for row in session.scalars(sa.select(ChangeRequestRow))}
        assert len(stored) == len(old)
        for number, row in enumerate(old):
            wanted = columns_of(row["target"])
            assert {name: getattr(stored[number + 1], name) for name in wanted} == wanted
        template = stored[41]
        assert (template.target_kind, template.target_template) == ("template", "web")
        context = stored[42]
        assert (
            context.target_kind,
            context.target_product,
            context.target_customer,
            context.environment,
            context.target_instance,
            context.target_template,
        ) == ("context", "shop", "acme", "prod", "a1", "")
        access.import_policy(
            sessions, ROOT + "g, user:olga, role:approver, shop/*/prod/*\n", actor=ADMIN
        )
        listed = [view.id for view in change_requests.list_requests(sessions, actor=OLGA)]
        assert listed == expected_ids(sessions, OLGA)
        assert 42 in listed
        assert 41 not in listed
        assert change_requests.get_request(sessions, 42, actor=OLGA).target == "shop/acme/prod/a1"
    finally:
        engine.dispose()
