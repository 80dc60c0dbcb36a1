"""Reviewing an instance's values: the history of its files in Git, and the preview of a
values change before it is saved (nothing committed, recorded or published).

The preview's objects are Helm's (``chart_renders.instance_objects``): the instance's chart
built as an upgrade builds it, nothing recorded, rendered by Helm with the overrides before
and after as Argo CD renders it (release name: the Application's, namespace: its
destination). When helm-sdkpy is not installed (an optional dependency:
``helmforge[helm]``), the preview falls back to helmforge's own substitution of the
template's resources (``core.charts.manifest_previews``), which shows what the values change
but not the labels, helpers and conditionals Helm adds.
"""

from __future__ import annotations

__all__ = [
    "ChartSide",
    "HistoryEntry",
    "ValuesPreview",
    "compare",
    "current_side",
    "history",
    "preview_values",
]

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import GitRepository
from helmforge.core.access.principals import Principal
from helmforge.core.charts.manifest_previews import preview_manifests
from helmforge.core.contexts import parse_context
from helmforge.core.errors import ExternalServiceError, InputError
from helmforge.core.instances.layout import InstanceId
from helmforge.core.instances.values_diff import changes_as_json, override_changes, unified_diff
from helmforge.core.instances.values_edits import replace_values
from helmforge.core.templates.models import Template
from helmforge.core.yaml_codec import dump_yaml
from helmforge.services import chart_renders
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_changes import instance_files, open_for
from helmforge.services.instance_git import load_instance, parse_instance_id, refresh_cache
from helmforge.services.instance_records import InstanceView
from helmforge.services.instance_values import (
    ValueProblem,
    effective_of,
    files_diff,
    last_revision,
    overrides_of,
    plain_overrides,
    problems_of,
    published_template,
)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One commit that changed the instance: who (name and e-mail), when, why, and the diff."""

    revision: str
    author: str
    email: str
    at: datetime
    message: str
    diff: str


@dataclass(frozen=True, slots=True)
class ValuesPreview:
    """What saving ``values`` would change, without committing or recording anything: the
    overrides (diff of values.yaml and the changed paths), the effective values, and the
    objects (``manifests_diff``: Helm's rendering of the instance's chart, object by object,
    ``KIND/NAMESPACE/NAME.yaml``; helmforge's own substitution, by resource id, where Helm
    is not installed); ``errors`` are the schema problems a save would be refused for
    (empty: it would be accepted)."""

    revision: str | None
    values_diff: str
    changes: list[dict[str, Any]]
    effective_diff: str
    effective_changes: list[dict[str, Any]]
    manifests_diff: str
    errors: tuple[ValueProblem, ...]
    #: Why the new values do not render (Helm's message at its file and line), when the
    #: caller asked for that to be reported rather than raised (``manifests_diff`` empty).
    manifests_error: str | None = None


def history(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    limit: int = 50,
    refresh: bool = True,
) -> list[HistoryEntry]:
    """The commits that changed the instance's files, newest first (``values.read``): who,
    when, the message and the diff, read from Git (fetched first unless ``refresh`` is off)."""
    instance = parse_instance_id(instance_id)
    view = load_instance(sessions, instance, actor=actor, permission="values.read")
    repository = open_for(sessions, view, workspace)
    if refresh:
        refresh_cache(sessions, repository, workspace)
    found = repository.reader().changes(instance_files(view), limit=max(1, min(limit, 500)))
    return [
        HistoryEntry(
            revision=change.revision,
            author=change.author.name,
            email=change.author.email,
            at=change.at,
            message=change.message,
            diff=files_diff(
                {path: before for path, (before, _) in change.files.items()},
                {path: after for path, (_, after) in change.files.items()},
            ),
        )
        for change in found
    ]


def _yaml_text(data: Any) -> str:
    return dump_yaml(data) if data else ""


@dataclass(frozen=True, slots=True)
class ChartSide:
    """One side of a change of an instance: the chart it runs (``template`` built for
    ``context``, the four segments and the app version, stamped ``chart_version``; ``None``
    for the version the template's policy gives) and its values.yaml (``text`` and the
    ``overrides`` it means)."""

    template: Template
    context: Mapping[str, str]
    chart_version: str | None
    text: str
    overrides: Mapping[str, Any]


def _objects(view: InstanceView, side: ChartSide, *, workspace: GitWorkspace) -> dict[str, str]:
    """The objects of ``side`` by key: Helm's when it is installed (``InputError`` with
    Helm's message at the template file and line when they do not render), else helmforge's
    substitution of the template's resources in the effective values."""
    if chart_renders.helm_available():
        return chart_renders.instance_objects(
            replace(view, app_version=side.context["version"]),
            side.template,
            side.overrides,
            deadline=workspace.helm_deadline,
            chart_version=side.chart_version,
        )
    try:
        effective, _ = effective_of(side.template, side.context, side.overrides)
    except InputError:
        effective = {}
    return preview_manifests(side.template, parse_context(side.context), effective)


def compare(
    view: InstanceView,
    before: ChartSide | None,
    after: ChartSide,
    *,
    workspace: GitWorkspace,
    revision: str | None,
    objects: bool = True,
    report_render_failure: bool = False,
) -> ValuesPreview:
    """The diffs of ``view`` going from ``before`` to ``after`` (values.yaml, the effective
    values, the objects Helm renders) and the schema problems of ``after``; nothing is
    built, recorded or published. ``before`` ``None`` is an instance not created yet: every
    value and object of ``after`` shows as new. Values of ``before`` that no longer render
    show every object as new. When ``after`` does not render, ``InputError`` with Helm's
    message at its file and line, or with ``report_render_failure`` that message in
    ``manifests_error`` (the other diffs still shown). ``ExternalServiceError`` when Helm
    takes longer than the workspace's ``helm_deadline`` (reported likewise)."""
    try:
        before_effective = (
            effective_of(before.template, before.context, before.overrides)[0] if before else {}
        )
        after_effective, _ = effective_of(after.template, after.context, after.overrides)
    except InputError:
        before_effective = after_effective = {}
    manifests, failure = "", None
    if objects:
        try:
            after_objects = _objects(view, after, workspace=workspace)
        except (InputError, ExternalServiceError) as error:
            if not report_render_failure:
                raise
            after_objects, failure = {}, str(error)
        try:
            before_objects = _objects(view, before, workspace=workspace) if before else {}
        except InputError:  # the values in Git no longer render: every object shows as new
            before_objects = {}
        if failure is None:
            manifests = "".join(
                unified_diff(
                    before_objects.get(key, ""), after_objects.get(key, ""), path=f"{key}.yaml"
                )
                for key in sorted(set(before_objects) | set(after_objects))
            )
    return ValuesPreview(
        revision=revision,
        values_diff=unified_diff(before.text if before else "", after.text, path=view.values_path),
        changes=changes_as_json(
            override_changes(before.overrides if before else {}, after.overrides)
        ),
        effective_diff=unified_diff(
            _yaml_text(before_effective), _yaml_text(after_effective), path="effective-values"
        ),
        effective_changes=changes_as_json(override_changes(before_effective, after_effective)),
        manifests_diff=manifests,
        errors=tuple(problems_of(after.template, after.context, after.overrides)),
        manifests_error=failure,
    )


def current_side(
    sessions: sessionmaker[Session],
    view: InstanceView,
    template: Template,
    *,
    workspace: GitWorkspace,
    refresh: bool = True,
) -> tuple[ChartSide, GitRepository]:
    """The instance as Git has it now (fetched first unless ``refresh`` is off): its chart
    and values.yaml, and the repository's reader for more (its ``last_revision``)."""
    repository = open_for(sessions, view, workspace)
    if refresh:
        refresh_cache(sessions, repository, workspace)
    reader = repository.reader()
    text, current = overrides_of(reader.read_file(view.values_path), source=view.values_path)
    return ChartSide(template, view.context, view.chart_version, text, current), reader


def preview_values(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    values: Mapping[str, Any],
    *,
    actor: Principal,
    workspace: GitWorkspace,
    refresh: bool = True,
    objects: bool = True,
    values_text: str | None = None,
) -> ValuesPreview:
    """What saving ``values`` (the whole overrides) would change, from the instance as Git
    has it now (``values.read``); nothing is committed, recorded or published. With
    ``values_text`` (values.yaml's text meaning ``values``, as ``update_values_text``
    commits it) the values.yaml diff is of that text. Values the
    schema refuses are previewed too, with the ``errors`` a save would answer. Without
    ``objects`` the chart is not rendered (``manifests_diff`` is empty). ``InputError``
    (422) with Helm's message, at the template file and line, when a template of the chart
    fails for the values; ``ExternalServiceError`` when Helm takes longer than the workspace's
    ``helm_deadline``."""
    instance = parse_instance_id(instance_id)
    view = load_instance(sessions, instance, actor=actor, permission="values.read")
    wanted = plain_overrides(values)
    _, template = published_template(sessions, view.template)
    before, reader = current_side(sessions, view, template, workspace=workspace, refresh=refresh)
    written = (
        replace_values(before.text, wanted, source=view.values_path).text
        if values_text is None
        else values_text
    )
    return compare(
        view,
        before,
        replace(before, text=written, overrides=wanted),
        workspace=workspace,
        revision=last_revision(reader, instance_files(view)),
        objects=objects,
    )
