"""Instance changes as change requests (DESIGN §9): the operations ``instance.create``,
``values.update``, ``instance.rollback``, ``instance.upgrade`` and ``instance.promote`` of
``services.change_requests``.

In an environment that needs approval the instance service proposes the change instead of
making it (``services.instances.*_or_propose``). A request holds exactly what will be done
(the values and the revision they were edited on; the revision to roll back to; the
template and app version to upgrade to; the whole new instance; the template version, app
version and values a promotion copies, as read from its source when it was proposed) and the
instance's state it was proposed against (its known revision and chart version): a change
of the instance in between makes it stale. Approving applies it through the same service
function, as the requester, with the approvers named in the commit's ``Approved-by:``
trailers (and, for creation, upgrades and promotions, in the chart publish's audit event:
one approval covers both).

Applying needs the server's ``GitWorkspace`` in the approval's ``context["workspace"]``.
"""

from __future__ import annotations

__all__ = ["CREATE", "PROMOTE", "ROLLBACK", "UPGRADE", "VALUES_UPDATE"]

import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.core.errors import InputError, Location, PreconditionRequiredError
from helmforge.core.instances.commit_messages import check_commit_body
from helmforge.core.instances.layout import SEGMENT_NAMES, InstanceId
from helmforge.core.instances.values_text import checked_values_text
from helmforge.core.yaml_codec import dump_yaml
from helmforge.services import access, change_requests, gitops_repositories, instance_records
from helmforge.services.change_requests import Proposal
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_changes import rollback, update_values, update_values_text
from helmforge.services.instance_creation import NewInstance, create_instance
from helmforge.services.instance_git import load_instance, parse_instance_id
from helmforge.services.instance_promotions import Promotion, describe, promote
from helmforge.services.instance_reviews import preview_values
from helmforge.services.instance_upgrades import upgrade
from helmforge.services.instance_values import (
    plain_overrides,
    published_template,
    require_valid,
)

#: A Git commit id as the instance's ETag names it (SHA-1, or SHA-256 for such repositories).
_COMMIT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def _text(payload: Mapping[str, Any], name: str, *, kind: str, optional: bool = False) -> Any:
    value = payload.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise InputError(f"a {kind} change names its {name} (text)")
    return value


def _workspace(context: Mapping[str, Any]) -> GitWorkspace:
    workspace = context.get("workspace")
    if not isinstance(workspace, GitWorkspace):
        raise InputError("applying an instance change needs the server's Git workspace")
    return workspace


class _InstanceChange:
    """What the instance operations share: who approves, who may see, the base state."""

    kind = ""
    permission = ""
    approver_permission = "change.approve"
    reader_permission = "instance.read"
    #: The payload's fields, when the kind names them: an edit adding others is refused
    #: rather than stored beside the proposal and shown to its reviewers.
    fields: frozenset[str] | None = None

    def instance_of(self, payload: Mapping[str, Any]) -> InstanceId:
        return parse_instance_id(_text(payload, "instance", kind=self.kind))

    def base(self, sessions: sessionmaker[Session], payload: Mapping[str, Any]) -> str:
        return instance_records.fingerprint(sessions, self.instance_of(payload))

    def proposal(
        self, sessions: sessionmaker[Session], payload: Mapping[str, Any], diff: str
    ) -> Proposal:
        """The proposal of every instance kind, new or edited (``PUT /change-requests/{id}``
        comes here too): its message is checked as the commit's body will be."""
        instance = self.instance_of(payload)
        unknown = sorted(set(payload) - self.fields) if self.fields is not None else []
        if unknown:
            raise InputError(
                f"a {self.kind} change has no field {', '.join(map(repr, unknown))}; its "
                f"fields: {', '.join(sorted(self.fields or ()))}",
                location=Location("payload", path=unknown[0]),
            )
        message = payload.get("message")
        check_commit_body(message if isinstance(message, str) else None, source="payload.message")
        return Proposal(
            target=instance_records.target_of(instance),
            diff=diff,
            base=self.base(sessions, payload),
            required=change_requests.required_approvals(sessions, instance.environment),
        )


class _ValuesUpdate(_InstanceChange):
    kind = "values.update"
    permission = "values.update"
    fields = frozenset({"instance", "revision", "message", "values", "values_yaml"})

    def propose(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        actor: Principal,
        context: Mapping[str, Any],
    ) -> Proposal:
        instance = self.instance_of(payload)
        view = load_instance(sessions, instance, actor=actor, permission=self.permission)
        revision = payload.get("revision")
        if not revision:
            raise PreconditionRequiredError(
                f"a values change of {instance} names the revision it was edited on (If-Match)"
            )
        if not isinstance(revision, str) or not _COMMIT_ID.fullmatch(revision):
            raise InputError(
                f"revision {str(revision)[:40]!r} is not a commit id: a values change names the "
                f"commit {instance} was edited on (40 hex digits, its ETag)",
                location=Location(path="revision"),
            )
        wanted = plain_overrides(payload.get("values"))
        _, template = published_template(sessions, view.template)
        require_valid(view.id, template, view.context, wanted)
        diff = f"values of {view.id} (edited on revision {payload['revision']}):\n"
        workspace = context.get("workspace")
        text = payload.get("values_yaml")
        if text is not None:
            _same_values_in_text(wanted, text, kind=self.kind)
        if isinstance(workspace, GitWorkspace):
            preview = preview_values(
                sessions,
                instance,
                wanted,
                actor=actor,
                workspace=workspace,
                objects=False,
                values_text=text if isinstance(text, str) else None,
            )
            diff += preview.values_diff or "(no change)\n"
        else:
            diff += dump_yaml(wanted) if wanted else "(no overrides)\n"
        return self.proposal(sessions, payload, diff)

    def apply(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        requester: Principal,
        approved_by: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> dict[str, Any]:
        common: dict[str, Any] = {
            "if_match": _text(payload, "revision", kind=self.kind),
            "actor": requester,
            "workspace": _workspace(context),
            "message": _text(payload, "message", kind=self.kind, optional=True),
            "approved_by": approved_by,
        }
        text = payload.get("values_yaml")  # values.yaml as written ("" is no overrides)
        if text is not None and not isinstance(text, str):
            raise InputError(f"a {self.kind} change's values_yaml is text")
        change = (
            update_values_text(sessions, self.instance_of(payload), text, **common)
            if text is not None
            else update_values(
                sessions,
                self.instance_of(payload),
                plain_overrides(payload.get("values")),
                **common,
            )
        )
        return {"instance": change.instance.id, "revision": change.revision}


def _same_values_in_text(wanted: dict[str, Any], text: Any, *, kind: str) -> None:
    """``InputError`` unless ``text`` is values.yaml text meaning exactly ``wanted``: approving
    commits the text, while reviewers also read the values (an edited request could make the
    two disagree)."""
    if not isinstance(text, str):
        raise InputError(f"a {kind} change's values_yaml is text", location=Location("payload"))
    meant = plain_overrides(checked_values_text(text, source="payload.values_yaml").values)
    if meant != wanted:
        raise InputError(
            f"a {kind} change's values_yaml means other values than its values; give the "
            "values that the text holds (or only one of them, as the values API takes it)",
            location=Location("payload", path="values_yaml"),
        )


class _Rollback(_InstanceChange):
    kind = "instance.rollback"
    permission = "instance.rollback"
    fields = frozenset({"instance", "revision", "message"})

    def propose(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        actor: Principal,
        context: Mapping[str, Any],
    ) -> Proposal:
        instance = self.instance_of(payload)
        view = load_instance(sessions, instance, actor=actor, permission=self.permission)
        revision = _text(payload, "revision", kind=self.kind)
        diff = f"roll back the values of {view.id} to revision {revision}\n"
        return self.proposal(sessions, payload, diff)

    def apply(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        requester: Principal,
        approved_by: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> dict[str, Any]:
        change = rollback(
            sessions,
            self.instance_of(payload),
            _text(payload, "revision", kind=self.kind),
            actor=requester,
            workspace=_workspace(context),
            message=_text(payload, "message", kind=self.kind, optional=True),
            approved_by=approved_by,
        )
        return {"instance": change.instance.id, "revision": change.revision}


class _Upgrade(_InstanceChange):
    kind = "instance.upgrade"
    permission = "instance.upgrade"
    fields = frozenset({"instance", "template", "version", "message"})

    def propose(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        actor: Principal,
        context: Mapping[str, Any],
    ) -> Proposal:
        instance = self.instance_of(payload)
        view = load_instance(sessions, instance, actor=actor, permission=self.permission)
        template = _text(payload, "template", kind=self.kind, optional=True)
        version = _text(payload, "version", kind=self.kind, optional=True)
        target, _ = published_template(sessions, template or view.template)
        diff = (
            f"upgrade {view.id}: template {view.template} -> {target.name}@{target.version}, "
            f"app version {view.app_version} -> {version or view.app_version} (chart "
            f"{view.chart} {view.chart_version} -> the version its policy gives)\n"
        )
        return self.proposal(sessions, payload, diff)

    def apply(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        requester: Principal,
        approved_by: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> dict[str, Any]:
        change = upgrade(
            sessions,
            self.instance_of(payload),
            actor=requester,
            workspace=_workspace(context),
            template=_text(payload, "template", kind=self.kind, optional=True),
            version=_text(payload, "version", kind=self.kind, optional=True),
            message=_text(payload, "message", kind=self.kind, optional=True),
            approved_by=approved_by,
        )
        return {
            "instance": change.instance.id,
            "revision": change.revision,
            "chart_version": change.instance.chart_version,
        }


class _Create(_InstanceChange):
    kind = "instance.create"
    permission = "instance.create"

    def instance_of(self, payload: Mapping[str, Any]) -> InstanceId:
        return InstanceId(
            *(
                _text(payload, name, kind=self.kind)
                for name in ("product", "customer", "environment", "instance")
            )
        )

    def _request(self, payload: Mapping[str, Any]) -> NewInstance:
        return NewInstance(
            product=_text(payload, "product", kind=self.kind),
            customer=_text(payload, "customer", kind=self.kind),
            environment=_text(payload, "environment", kind=self.kind),
            instance=_text(payload, "instance", kind=self.kind),
            template=_text(payload, "template", kind=self.kind),
            version=_text(payload, "version", kind=self.kind),
            registry=_text(payload, "registry", kind=self.kind),
            repository=_text(payload, "repository", kind=self.kind),
            argocd=_text(payload, "argocd", kind=self.kind, optional=True),
            values=plain_overrides(payload.get("values")),
            message=_text(payload, "message", kind=self.kind, optional=True),
        )

    def propose(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        actor: Principal,
        context: Mapping[str, Any],
    ) -> Proposal:
        request = self._request(payload)
        instance = request.instance_id
        access.require(sessions, actor, self.permission, instance_records.target_of(instance))
        _, template = published_template(sessions, request.template)
        context_values = dict(zip(SEGMENT_NAMES, instance.segments, strict=True))
        context_values["version"] = request.version
        require_valid(str(instance), template, context_values, request.values)
        gitops_repositories.check_repository(sessions, request.repository)
        shown = {key: value for key, value in asdict(request).items() if key != "values"}
        diff = f"create instance {instance}:\n{dump_yaml(shown)}values.yaml:\n" + (
            dump_yaml(dict(request.values)) if request.values else "(no overrides)\n"
        )
        return self.proposal(sessions, payload, diff)

    def apply(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        requester: Principal,
        approved_by: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> dict[str, Any]:
        change = create_instance(
            sessions,
            self._request(payload),
            actor=requester,
            workspace=_workspace(context),
            approved_by=approved_by,
        )
        return {
            "instance": change.instance.id,
            "revision": change.revision,
            "chart_version": change.instance.chart_version,
        }


class _Promote(_InstanceChange):
    """A promotion into the payload's ``instance`` (the target): stale when the target
    changed since; what is copied is fixed in the payload, whatever the source does next."""

    kind = "instance.promote"
    permission = "instance.upgrade"

    def propose(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        actor: Principal,
        context: Mapping[str, Any],
    ) -> Proposal:
        promotion = Promotion.from_payload(payload)
        diff = describe(sessions, promotion, actor=actor, workspace=_workspace(context))
        return self.proposal(sessions, payload, diff)

    def apply(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        requester: Principal,
        approved_by: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> dict[str, Any]:
        change = promote(
            sessions,
            Promotion.from_payload(payload),
            actor=requester,
            workspace=_workspace(context),
            message=_text(payload, "message", kind=self.kind, optional=True),
            approved_by=approved_by,
        )
        return {
            "instance": change.instance.id,
            "revision": change.revision,
            "chart_version": change.instance.chart_version,
        }


VALUES_UPDATE = _ValuesUpdate()
ROLLBACK = _Rollback()
UPGRADE = _Upgrade()
CREATE = _Create()
PROMOTE = _Promote()
