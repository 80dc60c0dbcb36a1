"""Lists filtered and paged by the database (``access.allowed_where``) answer exactly what the
access rule answers row by row (``access.allowed``), on SQLite and PostgreSQL: builds,
templates and instances, for policies with scopes at every segment, deny rules, developers
narrowed to the development environments, custom roles, a token's subset, and nothing."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.instances_tables import InstanceRow
from helmforge.adapters.storage.server_tables import ChartBuildRow, TemplateRow, TemplateVersionRow
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.services import access, chart_builds, instances, template_store
from helmforge.services.paging import PageRequest

ADMIN = Principal(name="root", role="admin", kind="user", id=1)
OLGA = Principal(name="olga", role="template-user", kind="user", id=2, groups=("sre",))
START = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = "g, user:root, role:admin, */*/*/*\n"

#: Olga's part of each policy (the administrator's binding is always there).
POLICIES = {
    "nothing": "",
    "one customer": "g, user:olga, role:template-user, shop/acme/*/*\n",
    "a deny rule wins": (
        "g, user:olga, role:operator, shop/*/*/*\n"
        "p, role:operator, chart, read, */bolt/prod/*, deny\n"
        "p, role:operator, instance, read, */*/prod/b2, deny\n"
    ),
    "developer in the development environments": "g, user:olga, role:developer, */*/*/*\n",
    "custom role by group": (
        "p, role:custom, chart, read, lab/*/sit/*, allow\n"
        "p, role:custom, instance, read, */*/*/b2, allow\n"
        "p, role:custom, template, read, web, allow\n"
        "g, group:sre, role:custom, */*/*/*\n"
    ),
    "templates by name": (
        "g, user:olga, role:template-user, web\n"
        "g, user:olga, role:template-creator, api\n"
        "g, user:olga, role:auditor, lab/bolt/*/a1\n"
    ),
    "everything read": "g, user:olga, role:auditor, */*/*/*\n",
}

CONTEXTS = list(
    itertools.product(("shop", "lab"), ("acme", "bolt"), ("dev", "sit", "prod"), ("a1", "b2"))
)


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Two builds and one instance per context, builds with odd contexts, five templates."""
    with sessions.begin() as session:
        access.bind_role(session, subject="user:root", role="admin", scope="*/*/*/*", actor=SYSTEM)
        number = 0
        odd: list[dict[str, object]] = [{}, {"product": "shop"}, {"product": None}]
        for context in [*CONTEXTS, *CONTEXTS]:
            number += 1
            session.add(_build(dict(zip(_KEYS, context, strict=True)), number))
        for context in odd:
            number += 1
            session.add(_build(context, number))
        for product, customer, environment, instance in CONTEXTS:
            name = f"{product}-{customer}-{environment}-{instance}"
            session.add(
                InstanceRow(
                    product=product,
                    customer=customer,
                    environment=environment,
                    instance=instance,
                    app_name=name,
                    namespace=name,
                    state="ready",
                    template_name="web",
                    template_version="1.0.0",
                    app_version="1.0.0",
                    registry_name="main",
                    repository="gitops",
                    chart_name=product,
                    chart_version="1.0.0",
                    created_at=START,
                    created_by="root",
                    updated_at=START,
                    updated_by="root",
                )
            )
        for name in ("api", "batch", "web", "worker", "zeta"):
            template = TemplateRow(name=name, created_at=START, created_by="root")
            session.add(template)
            session.flush()
            for version in ("1.0.0", "1.1.0"):
                session.add(
                    TemplateVersionRow(
                        template_id=template.id,
                        version=version,
                        content="",
                        status="published",
                        created_at=START,
                        created_by="root",
                        updated_at=START,
                        updated_by="root",
                    )
                )
    return sessions


_KEYS = ("product", "customer", "environment", "instance")


def _build(context: dict[str, object], number: int) -> ChartBuildRow:
    return ChartBuildRow(
        id=uuid.uuid4().hex,
        template_name="web",
        template_version="1.0.0",
        context={**context, "version": "1.0.0"},
        values={},
        chart_name="shop",
        chart_version="1.0.0",
        app_version="1.0.0",
        digest="sha256:" + "0" * 64,
        size=1,
        archive=b"-",
        created_by="root",
        # Pairs share an instant, so the order's tie-break (the id) is exercised too.
        created_at=START + timedelta(seconds=number // 2),
    )


def _target(context: object) -> Target:
    values = context if isinstance(context, dict) else {}
    return Target.of_context(*(str(values.get(key, "")) for key in _KEYS))


@pytest.mark.parametrize("policy", list(POLICIES))
def test_lists_from_the_database_answer_as_the_rule_answers_row_by_row(
    filled: sessionmaker[Session], policy: str
) -> None:
    sessions = filled
    access.import_policy(sessions, ROOT + POLICIES[policy], actor=ADMIN)
    may_read_chart = access.allowed(sessions, OLGA, "chart.read")
    may_read_instance = access.allowed(sessions, OLGA, "instance.read")
    may_read_template = access.allowed(sessions, OLGA, "template.read")
    with sessions() as session:
        builds = session.execute(
            sa.select(ChartBuildRow.id, ChartBuildRow.context, ChartBuildRow.created_at)
        ).all()
    newest_first = sorted(builds, key=lambda b: b.id, reverse=True)
    newest_first.sort(key=lambda b: b.created_at, reverse=True)
    expected = [b.id for b in newest_first if may_read_chart(_target(b.context))]
    listed = chart_builds.list_builds(sessions, actor=OLGA, limit=1000)
    assert [view.id for view in listed] == expected
    assert [v.id for v in chart_builds.list_builds(sessions, actor=OLGA, limit=5)] == expected[:5]

    # Pages: newest first, then by id; every page and one past the end (the last page).
    paged = sorted(builds, key=lambda b: b.id)
    paged.sort(key=lambda b: b.created_at, reverse=True)
    readable = [b.id for b in paged if may_read_chart(_target(b.context))]
    pages = max(1, -(-len(readable) // 7))
    for number in range(1, pages + 2):
        page = chart_builds.page_builds(sessions, actor=OLGA, page=PageRequest(number, 7))
        shown = min(number, pages)
        assert page.total == len(readable)
        assert [view.id for view in page.items] == readable[(shown - 1) * 7 : shown * 7]

    expected_instances = [
        "/".join(context) for context in sorted(CONTEXTS) if may_read_instance(_ctx(context))
    ]
    found = instances.list_instances(sessions, actor=OLGA)
    assert [str(view.instance_id) for view in found] == expected_instances
    window = instances.list_instances(sessions, actor=OLGA, limit=3, offset=2)
    assert [str(view.instance_id) for view in window] == expected_instances[2:5]
    outdated = instances.list_instances(sessions, actor=OLGA, outdated=True, limit=3, offset=1)
    assert [str(view.instance_id) for view in outdated] == expected_instances[1:4]

    names = [n for n in ("api", "batch", "web", "worker", "zeta") if may_read_template(_tpl(n))]
    assert [t.name for t in template_store.list_templates(sessions, actor=OLGA)] == names
    second = template_store.page_templates(sessions, actor=OLGA, page=PageRequest(2, 2))
    assert [t.name for t in second.items] == (names[2:4] if len(names) > 2 else names[:2])
    assert second.total == len(names)


def _ctx(context: tuple[str, str, str, str]) -> Target:
    return Target.of_context(*context)


def _tpl(name: str) -> Target:
    return Target(template=name)


def test_a_token_made_for_some_bindings_lists_only_what_they_reach(
    filled: sessionmaker[Session],
) -> None:
    sessions = filled
    acme = access.add_binding(
        sessions, subject="user:olga", role="auditor", scope="shop/acme/*/*", actor=ADMIN
    )
    access.add_binding(
        sessions, subject="user:olga", role="auditor", scope="lab/*/*/*", actor=ADMIN
    )
    token = Principal(
        name="olga", role="template-user", kind="token", id=2, bindings=frozenset({acme.id})
    )
    found = instances.list_instances(sessions, actor=token)
    assert {str(view.instance_id).rsplit("/", 2)[0] for view in found} == {"shop/acme"}
    assert len(instances.list_instances(sessions, actor=OLGA)) == 12 + 6


def test_a_page_loads_only_its_own_rows(filled: sessionmaker[Session]) -> None:
    # The defect: the build, template and instance lists read every matching row into Python
    # to apply the access rule there, then cut the page.
    sessions = filled
    access.import_policy(sessions, ROOT + POLICIES["a deny rule wins"], actor=ADMIN)
    loaded: list[object] = []
    sa.event.listen(sessions, "loaded_as_persistent", lambda _s, row: loaded.append(row))
    page = chart_builds.page_builds(sessions, actor=OLGA, page=PageRequest(2, 4))
    assert len(page.items) == 4 < page.total
    assert len([row for row in loaded if isinstance(row, ChartBuildRow)]) == 4
    loaded.clear()
    assert len(chart_builds.list_builds(sessions, actor=OLGA, limit=3)) == 3
    assert len([row for row in loaded if isinstance(row, ChartBuildRow)]) == 3
    loaded.clear()
    assert len(instances.list_instances(sessions, actor=OLGA, limit=2, offset=3)) == 2
    assert len([row for row in loaded if isinstance(row, InstanceRow)]) == 2
    loaded.clear()
    page_of_templates = template_store.page_templates(sessions, actor=ADMIN, page=PageRequest(2, 2))
    assert [t.name for t in page_of_templates.items] == ["web", "worker"]
    assert len([row for row in loaded if isinstance(row, TemplateRow)]) == 2
