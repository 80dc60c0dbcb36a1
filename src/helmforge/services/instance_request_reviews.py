"""What approving an instance change request would do now (DESIGN §6, §9): for a pending
``values.update``, ``instance.rollback``, ``instance.upgrade`` or ``instance.promote``, the
diff of values.yaml, of the effective values and of the objects Helm renders — what Argo CD
would apply — from the instance as Git has it at view time to what the request commits.

The diffs are the values preview's (``instance_reviews.compare``): the chart is built in
memory as an upgrade builds it and rendered by Helm, nothing recorded or published (no build
record). An upgrade's or promotion's new side is the chart of the new template and app
version (stamped with the version the template's policy gives) with the overrides as the
commit would leave them (migrated, or with the promoted paths edited in). A request whose
instance changed since it was proposed is ``moved``: approving it finds it stale, as
``change_requests.approve`` already says; its diffs are still shown against what is there now.
A new side that Helm cannot render shows Helm's message at the template file and line in
``manifests_error`` instead of failing the view.

A pending ``instance.create`` is reviewed against nothing (``creates``): the values.yaml the
creation commits, the effective values and every object Helm renders for the new instance's
chart (built from the template version and context the request names, as the creation
builds it, nothing recorded), under the Application's name and namespace it will get.
"""

from __future__ import annotations

__all__ = ["REVIEWED_KINDS", "RequestReview", "review_request"]

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import GitRepository
from helmforge.core.access import changes
from helmforge.core.access.principals import Principal
from helmforge.core.errors import HelmforgeError
from helmforge.core.instances.layout import InstanceId
from helmforge.core.instances.values_edits import replace_values
from helmforge.services import access, change_requests, gitops_repositories
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_changes import instance_files, values_at
from helmforge.services.instance_creation import new_values_text
from helmforge.services.instance_git import load_instance, parse_instance_id
from helmforge.services.instance_promotions import Promotion, promoted_values
from helmforge.services.instance_records import InstanceView, target_of
from helmforge.services.instance_reviews import ChartSide, ValuesPreview, compare, current_side
from helmforge.services.instance_upgrades import migrated_values
from helmforge.services.instance_values import (
    last_revision,
    overrides_of,
    plain_overrides,
    published_template,
)


@dataclass(frozen=True, slots=True)
class RequestReview:
    """A pending instance change request seen now: ``revision`` is the instance's revision in
    Git now; ``moved`` says the instance changed since the request was proposed (approving
    it finds it stale: it must be proposed again); ``preview`` holds the three diffs from
    the instance now to what the request commits, or is ``None`` with ``note`` saying why
    they cannot be shown (the reader may not read the values, the instance is gone, Git
    cannot be read)."""

    moved: bool
    revision: str | None
    preview: ValuesPreview | None
    note: str | None = None
    #: A creation: the diffs are from nothing to the new instance.
    creates: bool = False


type _After = Callable[
    [sessionmaker[Session], InstanceView, ChartSide, GitRepository, Mapping[str, Any]], ChartSide
]


def _values_update(
    sessions: sessionmaker[Session],
    view: InstanceView,
    now: ChartSide,
    reader: GitRepository,
    payload: Mapping[str, Any],
) -> ChartSide:
    wanted = plain_overrides(payload.get("values"))
    text = payload.get("values_yaml")
    if not isinstance(text, str):
        text = replace_values(now.text, wanted, source=view.values_path).text
    return replace(now, text=text, overrides=wanted)


def _rollback(
    sessions: sessionmaker[Session],
    view: InstanceView,
    now: ChartSide,
    reader: GitRepository,
    payload: Mapping[str, Any],
) -> ChartSide:
    revision = payload.get("revision")
    restored = values_at(reader, view, revision)
    text, overrides = overrides_of(restored, source=f"{view.values_path}@{str(revision)[:12]}")
    return replace(now, text=text, overrides=overrides)


def _upgrade(
    sessions: sessionmaker[Session],
    view: InstanceView,
    now: ChartSide,
    reader: GitRepository,
    payload: Mapping[str, Any],
) -> ChartSide:
    template = payload.get("template")
    version = payload.get("version")
    version_view, parsed = published_template(
        sessions, template if isinstance(template, str) and template else view.template
    )
    reference = f"{version_view.name}@{version_view.version}"
    migrations = parsed.migrations if reference != view.template else ()
    text, overrides = migrated_values(view, reference, migrations, now.text, dict(now.overrides))
    app_version = version if isinstance(version, str) and version else view.app_version
    return ChartSide(parsed, {**view.context, "version": app_version}, None, text, overrides)


def _promote(
    sessions: sessionmaker[Session],
    view: InstanceView,
    now: ChartSide,
    reader: GitRepository,
    payload: Mapping[str, Any],
) -> ChartSide:
    promotion = Promotion.from_payload(payload)
    version_view, parsed = published_template(sessions, promotion.template)
    reference = f"{version_view.name}@{version_view.version}"
    edited = promoted_values(now.text, promotion, view)
    chart_changes = (reference, promotion.app_version) != (view.template, view.app_version)
    return ChartSide(
        parsed,
        {**view.context, "version": promotion.app_version},
        None if chart_changes else view.chart_version,
        edited.text,
        dict(edited.after),
    )


_AFTER: Mapping[str, _After] = {
    "values.update": _values_update,
    "instance.rollback": _rollback,
    "instance.upgrade": _upgrade,
    "instance.promote": _promote,
}
_CREATE = "instance.create"
#: The change-request kinds a review shows the diffs of.
REVIEWED_KINDS = (_CREATE, *_AFTER)


def _planned_view(
    sessions: sessionmaker[Session], request: ChangeRequestView, instance: InstanceId
) -> tuple[InstanceView, ChartSide]:
    """The instance an ``instance.create`` request would make, as a view (its paths in the
    repository, its Application name and namespace) and its one side."""
    payload = request.payload
    fields = change_requests.payload_fields(
        payload, "template", "version", "registry", "repository", kind=_CREATE
    )
    template_reference, app_version, registry, repository = fields
    version_view, template = published_template(sessions, template_reference)
    base_path = gitops_repositories.check_repository(sessions, repository).path
    name = instance.default_namespace()
    argocd = payload.get("argocd")
    view = InstanceView(
        id=str(instance),
        product=instance.product,
        customer=instance.customer,
        environment=instance.environment,
        instance=instance.instance,
        template=f"{version_view.name}@{version_view.version}",
        template_name=version_view.name,
        template_version=version_view.version,
        app_version=app_version,
        registry=registry,
        repository=repository,
        argocd=argocd if isinstance(argocd, str) else None,
        chart="",
        chart_version="",
        build_id=None,
        revision=None,
        namespace=name,
        app_name=name,
        values_path=instance.values_path(base_path),
        application_path=instance.application_path(base_path),
        latest_template_version=None,
        created_by=request.requester,
        created_at=request.created_at,
        updated_by=request.requester,
        updated_at=request.created_at,
    )
    overrides = plain_overrides(payload.get("values"))
    text = new_values_text(instance, overrides).decode("utf-8")
    return view, ChartSide(template, view.context, None, text, overrides)


def _review_creation(
    sessions: sessionmaker[Session],
    request: ChangeRequestView,
    *,
    actor: Principal,
    workspace: GitWorkspace,
) -> RequestReview:
    moved = change_requests.changed_since_proposal(sessions, request)
    try:
        payload = request.payload
        segments = change_requests.payload_fields(
            payload, "product", "customer", "environment", "instance", kind=_CREATE
        )
        instance = parse_instance_id("/".join(segments))
        access.require(sessions, actor, "values.read", target_of(instance))
        view, side = _planned_view(sessions, request, instance)
        preview = compare(
            view, None, side, workspace=workspace, revision=None, report_render_failure=True
        )
    except HelmforgeError as error:
        return RequestReview(
            moved=moved, revision=None, preview=None, note=str(error), creates=True
        )
    return RequestReview(moved=moved, revision=None, preview=preview, creates=True)


def review_request(
    sessions: sessionmaker[Session],
    request: ChangeRequestView,
    *,
    actor: Principal,
    workspace: GitWorkspace,
) -> RequestReview | None:
    """``request`` (one ``actor`` may see: ``change_requests.get_request``) as approving it
    would apply it now, read from Git (fetched first) and rendered by Helm (a creation:
    against nothing); ``None`` for a
    kind without a review or a request no longer pending. Never raises for what it cannot
    show: the review's ``note`` says it (``values.read`` missing on the instance, the instance
    or the rollback's revision gone, Git unreachable, values that cannot be migrated)."""
    if request.state != changes.PENDING:
        return None
    if request.kind == _CREATE:
        return _review_creation(sessions, request, actor=actor, workspace=workspace)
    after_of = _AFTER.get(request.kind)
    if after_of is None:
        return None
    moved = change_requests.changed_since_proposal(sessions, request)
    revision = None
    try:
        instance = parse_instance_id(str(request.payload.get("instance", "")))
        view = load_instance(sessions, instance, actor=actor, permission="values.read")
        _, template = published_template(sessions, view.template)
        now, reader = current_side(sessions, view, template, workspace=workspace)
        revision = last_revision(reader, instance_files(view))
        edited_on = request.payload.get("revision")
        if request.kind == "values.update" and edited_on != revision:
            moved = True  # Git moved past the revision it was edited on: applying answers 409
        after = after_of(sessions, view, now, reader, request.payload)
        preview = compare(
            view, now, after, workspace=workspace, revision=revision, report_render_failure=True
        )
    except HelmforgeError as error:
        return RequestReview(moved=moved, revision=revision, preview=None, note=str(error))
    return RequestReview(moved=moved, revision=revision, preview=preview)
