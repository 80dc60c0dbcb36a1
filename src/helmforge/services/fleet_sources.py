"""What fleet jobs read, opened once per job: one fetched cache per GitOps repository, one
client per registry, one parsed template per version."""

from __future__ import annotations

__all__ = ["MAX_FLEET", "FleetSources", "fleet_members", "fleet_of"]

import logging
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.core.errors import InputError, Location
from helmforge.core.instances.layout import InstanceId
from helmforge.core.templates.models import Template
from helmforge.services import gitops_repositories, instances, registries
from helmforge.services.instance_git import base_paths, refresh_cache
from helmforge.services.instance_records import InstanceView, latest_published, rows_by_id, view_of
from helmforge.services.instance_values import published_template
from helmforge.services.jobs import JobContext
from helmforge.services.publishing import client_for

if TYPE_CHECKING:
    from helmforge.adapters.git import GitRepository
    from helmforge.adapters.oci import RegistryClient
    from helmforge.core.oci.references import OciReference

_log = logging.getLogger("helmforge.fleet")

#: The most instances one fleet job takes (the instance list's own bound).
MAX_FLEET = 10_000
#: Instances read by one query of ``fleet_members`` (four bound parameters each).
_READ = 500


def fleet_of(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    chosen: Mapping[str, str],
    template: str | None = None,
) -> list[InstanceView]:
    """The instances ``actor`` may read that match the filter ``chosen`` (and template name
    ``template``), by id. ``InputError`` when they are ``MAX_FLEET`` or more: one job would
    not see them all, so the filter must name fewer."""
    views = instances.list_instances(
        sessions,
        actor=actor,
        product=chosen.get("product"),
        customer=chosen.get("customer"),
        environment=chosen.get("environment"),
        template=template,
        limit=MAX_FLEET,
    )
    if len(views) >= MAX_FLEET:
        raise InputError(
            f"{MAX_FLEET} or more instances match {dict(chosen) or 'the whole fleet'}: one job "
            "takes fewer; narrow the filter (product, customer, environment)",
            location=Location(path="filter"),
        )
    return views


def fleet_members(
    sessions: sessionmaker[Session], ids: Sequence[str], *, template: str | None = None
) -> dict[str, InstanceView]:
    """The views of the instances ``ids`` names that still exist (ready, and of template name
    ``template`` when given), by id: for a job whose instances were chosen, and the caller's
    rights checked, when it was submitted. One query per ``_READ`` ids, whatever the size of
    the fleet."""
    named = [InstanceId.parse(instance, source="instances") for instance in ids]
    paths = base_paths(sessions)
    found: dict[str, InstanceView] = {}
    for start in range(0, len(named), _READ):
        rows = rows_by_id(sessions, named[start : start + _READ], template=template)
        latest = latest_published(sessions, {row.template_name for row in rows}) if rows else {}
        for row in rows:
            view = view_of(
                row, base_path=paths(row.repository), latest=latest.get(row.template_name)
            )
            found[view.id] = view
    return found


class FleetSources:
    """Per job: each repository fetched once (its cache read after that: a remote that
    fails leaves the cache's answer, logged), each registry's client closed with ``stack``."""

    def __init__(self, context: JobContext, stack: ExitStack) -> None:
        self.context, self.stack = context, stack
        self.sessions = context.sessions
        self._readers: dict[str, GitRepository] = {}
        self._registries: dict[str, tuple[RegistryClient, OciReference]] = {}
        self._templates: dict[str, Template] = {}

    def reader(self, repository: str) -> GitRepository:
        if repository not in self._readers:
            workspace = self.context.resources.workspace
            opened = gitops_repositories.open_repository(
                self.sessions, repository, workspace=workspace
            )
            problem = refresh_cache(self.sessions, opened, workspace)
            if problem is not None:
                _log.warning("verification reads repository %s from its cache", repository)
            self._readers[repository] = opened.reader()
        return self._readers[repository]

    def registry(self, name: str) -> tuple[RegistryClient, OciReference]:
        if name not in self._registries:
            config = registries.open_config(
                self.sessions, name, key=self.context.resources.registry_key
            )
            client = client_for(
                config, max_connections=2, deadline=self.context.resources.registry_deadline
            )
            self.stack.callback(client.close)
            self._registries[name] = (client, config.reference)
        return self._registries[name]

    def template(self, reference: str) -> Template:
        if reference not in self._templates:
            self._templates[reference] = published_template(self.sessions, reference)[1]
        return self._templates[reference]
