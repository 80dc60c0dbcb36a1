"""The change-request inbox over 10,000 requests: filtered and paged by PostgreSQL, beside the
filter it replaced (every request read and checked in Python).

One run, one fresh PostgreSQL database (127.0.0.1:5432), in process (no HTTP: the figure is
the service's work). REQUESTS change requests of every kind across 2,500 customers and the
templates, most of them by other users; the 1,000-binding policy of
``benchmarks.authorization``, where ``viewer`` is an operator of 300 customers (about one
request in eight is theirs to see). Side by side, alternating, for ``viewer``'s first page and
a page deep in the list (pages of 50, as /changes shows them):

- SQL: ``change_requests.page_requests`` — the access rule as a WHERE clause
  (``access.allowed_where``), the count and the page by the database;
- Python: the filter it replaced — every request read newest first and kept when the viewer
  requested it or ``access.allowed`` grants one of its kind's permissions at its target
  (``paging.fetch_page(keep=...)``, which is how the inbox was paged before).

Figures: p50/p99 wall time and this process's CPU per page, items on the page and the
matching total (both ways must agree), and the ratio Python / SQL. Goal: the SQL page's p99
<= 50 ms at 10,000 requests (the access-control issue's list goal).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.authorization import _large_policy
from benchmarks.server import _database, _percentile

REQUESTS = 10_000
PAGE_SIZE = 50
ROUNDS = 30
_KINDS = (
    "values.update",
    "instance.create",
    "instance.rollback",
    "instance.upgrade",
    "instance.promote",
    "chart.publish",
    "template.publish",
)


def _request_rows() -> list[dict[str, Any]]:
    from helmforge.services.change_request_targets import columns_of

    start = datetime(2026, 1, 1, tzinfo=UTC)
    environments = ("dev", "test", "uat", "prod")
    rows = []
    for number in range(REQUESTS):
        kind = _KINDS[number % len(_KINDS)]
        if kind == "template.publish":
            target = f"template-{number % 40:02d}"
        else:
            target = f"ledger/c{number % 2500:04d}/{environments[number % 4]}/a{number % 3}"
        rows.append(
            {
                "kind": kind,
                "target": target,
                "environment": environments[number % 4] if "/" in target else "",
                **columns_of(target),
                "payload": {"number": number},
                "diff": "",
                "base": "",
                "requester": "viewer" if number % 500 == 0 else f"u{number % 97:04d}",
                "requester_groups": [],
                "required": 1,
                "state": "pending" if number % 3 else "applied",
                "editors": [],
                "approvals": [],
                "created_at": start + timedelta(seconds=number),
                "updated_at": start + timedelta(seconds=number),
            }
        )
    return rows


def _python_page(sessions: sessionmaker[Session], actor: Any, number: int) -> tuple[int, int]:
    """The inbox page the way it was built before the SQL filter: (items, total)."""
    from helmforge.adapters.storage.access_tables import ChangeRequestRow
    from helmforge.services import access
    from helmforge.services.change_request_records import operation_of
    from helmforge.services.change_request_targets import target_of
    from helmforge.services.paging import PageRequest, fetch_page

    predicates: dict[str, Callable[[Any], bool]] = {}

    def granted(permission: str, row: ChangeRequestRow) -> bool:
        if permission not in predicates:
            predicates[permission] = access.allowed(sessions, actor, permission)
        return predicates[permission](target_of(row))

    def keep(row: ChangeRequestRow) -> bool:
        if row.requester == actor.name:
            return True
        operation = operation_of(row.kind)
        return granted(operation.approver_permission, row) or granted(
            operation.reader_permission, row
        )

    query = sa.select(ChangeRequestRow).order_by(ChangeRequestRow.id.desc())
    with sessions() as session:
        page = fetch_page(
            session, query, PageRequest(number, PAGE_SIZE), lambda row: row.id, keep=keep
        )
    return len(page.items), page.total


def _sql_page(sessions: sessionmaker[Session], actor: Any, number: int) -> tuple[int, int]:
    from helmforge.services import change_requests
    from helmforge.services.paging import PageRequest

    page = change_requests.page_requests(sessions, actor=actor, page=PageRequest(number, PAGE_SIZE))
    return len(page.items), page.total


def run() -> dict[str, float | str]:
    from helmforge.adapters.storage.access_tables import ChangeRequestRow
    from helmforge.adapters.storage.database import (
        create_database_engine,
        migrate,
        session_factory,
    )
    from helmforge.core.access.principals import SYSTEM, Principal
    from helmforge.services import access

    viewer = Principal(name="viewer", role="operator", kind="user", id=0)
    figures: dict[str, float | str] = {"requests": float(REQUESTS), "page_size": float(PAGE_SIZE)}
    contenders = {"sql": _sql_page, "python": _python_page}
    with _database() as url:
        engine = create_database_engine(url)
        try:
            migrate(engine)
            sessions = session_factory(engine)
            access.import_policy(sessions, _large_policy(), actor=SYSTEM)
            with engine.begin() as connection:
                connection.execute(sa.insert(ChangeRequestRow), _request_rows())
            for label, number in (("first", 1), ("deep", 20)):
                wall: dict[str, list[float]] = {name: [] for name in contenders}
                cpu: dict[str, float] = dict.fromkeys(contenders, 0.0)
                answers: dict[str, tuple[int, int]] = {}
                for round_number in range(ROUNDS + 2):
                    for name, page_of in contenders.items():
                        started, started_cpu = time.perf_counter(), time.process_time()
                        answers[name] = page_of(sessions, viewer, number)
                        if round_number >= 2:  # the first rounds warm caches and plans
                            wall[name].append(time.perf_counter() - started)
                            cpu[name] += time.process_time() - started_cpu
                if answers["sql"] != answers["python"]:
                    raise AssertionError(f"the two inboxes differ: {answers}")
                figures[f"{label}_page_items"] = float(answers["sql"][0])
                figures[f"{label}_visible_total"] = float(answers["sql"][1])
                for name in contenders:
                    figures[f"{label}_{name}_p50_ms"] = statistics.median(wall[name]) * 1000
                    figures[f"{label}_{name}_p99_ms"] = _percentile(wall[name], 0.99) * 1000
                    figures[f"{label}_{name}_cpu_ms"] = cpu[name] / ROUNDS * 1000
                figures[f"{label}_ratio_python_to_sql_p50"] = float(
                    figures[f"{label}_python_p50_ms"]
                ) / float(figures[f"{label}_sql_p50_ms"])
        finally:
            engine.dispose()
    figures["goal_sql_page_p99_le_50ms"] = (
        "met"
        if max(float(figures["first_sql_p99_ms"]), float(figures["deep_sql_p99_ms"])) <= 50
        else "missed"
    )
    print(
        f"change-request inbox: {REQUESTS} requests, PostgreSQL, 1,000 bindings, viewer an "
        f"operator of 300 customers, pages of {PAGE_SIZE}, {ROUNDS} rounds"
    )
    for key, value in figures.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"  {key:40} {shown}")
    return figures


if __name__ == "__main__":
    run()
