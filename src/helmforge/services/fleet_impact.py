"""The impact view (DESIGN §10): what publishing instances onto a template version changes.

``submit_impact`` checks the caller may read the template (``template.read``) and which of its
instances they may read with their values (``instance.read`` and ``values.read``, filtered like
``GET /api/v1/instances``), then queues a ``fleet.impact`` job over every instance of that
template (any version). ``run_impact`` fetches each GitOps repository once and hands each
instance's current template, context and overrides (values.yaml at the branch head) to
``core.fleet.impact.impact_of``: the migrated overrides, the effective values' diff, the diff of
the resolved manifests, the kind of change and why an instance is blocked. Nothing is built,
published or committed. The job saves what it found with its progress and resumes from there.
A fleet above ``CHUNK`` instances is split into chunk jobs, each over its own slice of the ids
the submission chose, whose rows it reads in one query (``fleet_sources.fleet_members``).
"""

from __future__ import annotations

__all__ = ["CHUNK", "merge_impact", "run_impact", "submit_impact"]

from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.errors import HelmforgeError
from helmforge.core.fleet.filters import parse_filter
from helmforge.core.fleet.impact import CHANGE_KINDS, impact_of
from helmforge.services import access, jobs
from helmforge.services.fleet_sources import FleetSources, fleet_members, fleet_of
from helmforge.services.instance_records import InstanceView, target_of
from helmforge.services.instance_values import overrides_of, problems_of, published_template
from helmforge.services.jobs import JobContext, JobView
from helmforge.services.template_store import parse_reference

KIND = "fleet.impact"
_SAVES = 50
#: Instances per chunk job: a larger fleet is split so that every worker takes a share.
CHUNK = 100


def submit_impact(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    template: str,
    filter: Mapping[str, Any] | None = None,
) -> JobView:
    """Queue the impact of ``template`` (``NAME@VERSION``, published; ``NAME``: its newest)
    on every instance of template ``NAME`` that ``actor`` may read with its values and that
    matches ``filter``. Raises ``NotFoundError``/``ConflictError`` (no such published
    version), ``PermissionDeniedError`` (no ``template.read``), ``InputError`` (bad filter)."""
    chosen = parse_filter(filter)
    name, _ = parse_reference(template)
    access.require(sessions, actor, "template.read", Target(template=name))
    version_view, _ = published_template(sessions, template)
    reference = f"{version_view.name}@{version_view.version}"
    may_read_values = access.allowed(sessions, actor, "values.read")
    views = [
        view
        for view in fleet_of(sessions, actor=actor, chosen=chosen, template=version_view.name)
        if may_read_values(target_of(view.instance_id))
    ]
    return jobs.submit(
        sessions,
        kind=KIND,
        params={
            "template": reference,
            "filter": chosen,
            "instances": [view.id for view in views],
        },
        actor=actor,
        total=len(views),
    )


def _impact(fleet: FleetSources, view: InstanceView, reference: str) -> dict[str, Any]:
    target = fleet.template(reference)
    try:
        current = fleet.template(view.template)
        raw = fleet.reader(view.repository).read_file(view.values_path)
        _, overrides = overrides_of(raw, source=view.values_path)
    except HelmforgeError as error:
        return {
            "instance": view.id,
            "from": view.template,
            "change": "breaking",
            "values_diff": [],
            "manifest_diff": "",
            "blocked": [f"the instance cannot be read: {error}"],
            "migrated": [],
        }
    context = view.context

    def schema_check(values: Mapping[str, Any]) -> list[str]:
        return [
            f"{problem.path}: {problem.message}" for problem in problems_of(target, context, values)
        ]

    found = impact_of(
        view.id,
        current=current,
        target=target,
        context=context,
        overrides=overrides,
        schema_check=schema_check,
    ).as_json()
    found.pop("overrides")
    return {"instance": view.id, "from": view.template, **found}


def run_impact(context: JobContext) -> dict[str, Any]:
    """The ``fleet.impact`` job: ``{"template", "items": [impact per instance], "counts":
    {change kind: N}}``, resuming after the instances an earlier attempt saved."""
    reference = str(context.params["template"])
    ids = [str(instance) for instance in context.params.get("instances", [])]
    size = int(context.params.get("chunk") or CHUNK)
    if context.parent is None and len(ids) > size:
        context.split(
            [
                {**context.params, "instances": ids[start : start + size]}
                for start in range(0, len(ids), size)
            ],
            total_of=lambda part: len(part["instances"]),
        )
    items: list[dict[str, Any]] = list(context.saved.get("items", []))
    finished = {item["instance"] for item in items}
    # The ids were chosen (filter and rights) at submission: a chunk reads its own only.
    known = fleet_members(
        context.sessions,
        [instance for instance in ids if instance not in finished],
        template=reference.rpartition("@")[0],
    )
    every = max(1, len(ids) // _SAVES)
    with ExitStack() as stack:
        fleet = FleetSources(context, stack)
        for instance in ids:
            if instance in finished:
                continue
            view = known.get(instance)
            if view is None:
                items.append(
                    {
                        "instance": instance,
                        "change": "breaking",
                        "values_diff": [],
                        "manifest_diff": "",
                        "blocked": [f"instance {instance} was removed before it was looked at"],
                        "migrated": [],
                    }
                )
            else:
                items.append(_impact(fleet, view, reference))
            finished.add(instance)
            if len(items) % every == 0:
                context.report(
                    done=len(items), total=len(ids), partial={"template": reference, "items": items}
                )
    counts = Counter(item["change"] for item in items)
    return {
        "template": reference,
        "items": items,
        "counts": {kind: counts.get(kind, 0) for kind in CHANGE_KINDS},
    }


def merge_impact(params: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The result of a ``fleet.impact`` job split in chunks: their items in order, counted."""
    items = [item for result in results for item in result.get("items", [])]
    counts = Counter(item["change"] for item in items)
    return {
        "template": str(params["template"]),
        "items": items,
        "counts": {kind: counts.get(kind, 0) for kind in CHANGE_KINDS},
    }
