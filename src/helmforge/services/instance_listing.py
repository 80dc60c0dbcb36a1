"""Listing instances, with their Argo CD sync and health if asked, behind ``services.instances``.

``list_instances`` reads the rows the caller may read from the database (the access rule and
the paging applied there); ``list_with_status`` adds each Application's status, read with one
list request per Argo CD server and batch, and filters by it.
"""

from __future__ import annotations

__all__ = ["STATUS_SCAN", "InstanceListing", "list_instances", "list_with_status"]

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.services import (
    access,
    argocd_sync,
    instance_records,
)
from helmforge.services.argocd_sync import (
    SyncStatus,
)
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_git import (
    base_paths,
)
from helmforge.services.instance_records import InstanceView

_MAX_LIST = 10_000
#: A sync or health filter reads the status of at most this many instances (in database
#: order, after the other filters), ``_STATUS_SCAN_BATCH`` at a time.
STATUS_SCAN = 2_000
_STATUS_SCAN_BATCH = 200
_UNKNOWN = "unknown"


def list_instances(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    product: str | None = None,
    customer: str | None = None,
    environment: str | None = None,
    template: str | None = None,
    outdated: bool | None = None,
    search: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[InstanceView]:
    """The instances ``actor`` may read, by id: filtered exactly by segment and template name,
    by ``outdated`` (a newer version of its template is published) and by ``search`` (part
    of the id, template or chart name, any case). From the database: no Git call; the
    database applies the access rule and, unless ``outdated`` is asked for, the paging."""
    readable = access.allowed_where(
        sessions, actor, "instance.read", instance_records.CONTEXT_COLUMNS
    )
    latest = instance_records.latest_published(sessions)
    paths = base_paths(sessions)
    size = max(1, min(limit, _MAX_LIST))
    start = max(0, offset)
    # Whether an instance is outdated is a SemVer comparison with its template's newest
    # published version, made here: then the rows are read first and paged after.
    rows = instance_records.list_rows(
        sessions,
        product=product,
        customer=customer,
        environment=environment,
        template=template,
        search=search,
        limit=size if outdated is None else _MAX_LIST,
        offset=start if outdated is None else 0,
        chosen=readable,
    )
    views = [
        instance_records.view_of(
            row, base_path=paths(row.repository), latest=latest.get(row.template_name)
        )
        for row in rows
    ]
    if outdated is None:
        return views
    chosen = [view for view in views if view.outdated == outdated]
    return chosen[start : start + size]


@dataclass(frozen=True, slots=True)
class InstanceListing:
    """A page of instances with their Argo CD status (``None`` without a server).

    ``more``: instances past this page match too. ``scanned``: how many instances (after the
    database's filters) had their status read. ``truncated``: a sync or health filter
    stopped after ``STATUS_SCAN`` of them, so instances further on were not looked at.
    """

    items: tuple[tuple[InstanceView, SyncStatus | None], ...]
    more: bool
    scanned: int
    truncated: bool


def _status_matches(status: SyncStatus | None, *, sync: str | None, health: str | None) -> bool:
    """``sync``/``health`` as Argo CD spells them (any case); ``unknown`` matches a status
    that could not be read. An instance without an Argo CD server matches no such filter."""
    if status is None:
        return sync is None and health is None
    for wanted, seen in ((sync, status.status), (health, status.health)):
        if wanted is None:
            continue
        if status.error is not None or seen is None:
            if wanted.lower() != _UNKNOWN:
                return False
        elif seen.lower() != wanted.lower():
            return False
    return True


def list_with_status(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    workspace: GitWorkspace,
    sync: str | None = None,
    health: str | None = None,
    limit: int = 50,
    offset: int = 0,
    **filters: Any,
) -> InstanceListing:
    """``list_instances(**filters)`` with each instance's Argo CD sync and health, read with
    one ``GET /api/v1/applications`` per Argo CD server and batch of instances (never one
    call per row; a server that fails is each of its rows' ``error``).

    Without ``sync``/``health`` the database pages (``limit``, ``offset``) and only the
    page's rows are asked about. With one, the filter is applied before paging: instances
    are read in database order ``_STATUS_SCAN_BATCH`` at a time, their status asked for,
    and the matching ones kept until the page (and one more) is full — at most
    ``STATUS_SCAN`` instances are looked at (``truncated`` then says so), so ``offset`` is
    counted among the matches and a page never silently misses a match before it."""
    size = max(1, min(limit, _MAX_LIST))
    start = max(0, offset)
    if sync is None and health is None:
        views = list_instances(sessions, actor=actor, limit=size + 1, offset=start, **filters)
        shown = views[:size]
        statuses = argocd_sync.read_statuses(sessions, shown, workspace=workspace)
        return InstanceListing(
            items=tuple((view, statuses[view.id]) for view in shown),
            more=len(views) > size,
            scanned=len(shown),
            truncated=False,
        )
    matched: list[tuple[InstanceView, SyncStatus | None]] = []
    scanned = 0
    exhausted = False
    while len(matched) <= start + size and scanned < STATUS_SCAN:
        batch = list_instances(
            sessions,
            actor=actor,
            limit=min(_STATUS_SCAN_BATCH, STATUS_SCAN - scanned),
            offset=scanned,
            **filters,
        )
        scanned += len(batch)
        statuses = argocd_sync.read_statuses(sessions, batch, workspace=workspace)
        matched += [
            (view, statuses[view.id])
            for view in batch
            if _status_matches(statuses[view.id], sync=sync, health=health)
        ]
        if len(batch) < _STATUS_SCAN_BATCH:
            exhausted = True
            break
    filled = len(matched) > start + size
    return InstanceListing(
        items=tuple(matched[start : start + size]),
        more=filled,
        scanned=scanned,
        truncated=not filled and not exhausted and scanned >= STATUS_SCAN,
    )
