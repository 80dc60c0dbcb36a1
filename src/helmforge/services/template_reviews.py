"""Template reviews: with ``HELMFORGE_TEMPLATE_REVIEW`` on, publishing a template version is a
change request another person holding ``template.publish`` on that template approves (DESIGN
§9: "the template author may publish a template unless policy asks for review by another
creator"). This module is the ``template.publish`` operation of ``services.change_requests``
and ``publish_or_propose``, which the API and the UI call.

The request names the draft and the revision it was proposed at; a save in between makes it
stale, so a reviewer always approves the text they saw.
"""

from __future__ import annotations

__all__ = ["OPERATION", "publish_or_propose"]

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.errors import ConflictError
from helmforge.services import access, change_requests, template_store
from helmforge.services.change_requests import ChangeRequestView, Proposal

KIND = "template.publish"


def _fields(payload: Mapping[str, Any]) -> tuple[str, str]:
    name, version = change_requests.payload_fields(payload, "template", "version", kind=KIND)
    return name, version


class _TemplatePublish:
    """Publishing one draft version of a template, as reviewed."""

    approver_permission = "template.publish"
    reader_permission = "template.read"

    def propose(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        actor: Principal,
        context: Mapping[str, Any],
    ) -> Proposal:
        name, version = _fields(payload)
        access.require(sessions, actor, "template.publish", Target(template=name))
        view = template_store.get_version(sessions, name, version, actor=actor)
        if view.status != template_store.DRAFT:
            raise ConflictError(f"template {name}@{version} is {view.status}, not a draft")
        published = [
            v
            for v in template_store.list_versions(sessions, name, actor=actor)
            if v.status == template_store.PUBLISHED
        ]
        diff = (
            template_store.diff_versions(
                sessions, name, published[-1].version, version, actor=actor
            )
            if published
            else f"first published version of {name}: {version}\n"
        )
        return Proposal(target=Target(template=name), diff=diff, base=self.base(sessions, payload))

    def base(self, sessions: sessionmaker[Session], payload: Mapping[str, Any]) -> str:
        name, version = _fields(payload)
        view = template_store.get_version(sessions, name, version, actor=_READER)
        return f"{view.status} revision={view.revision}"

    def apply(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        requester: Principal,
        approved_by: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> dict[str, Any]:
        name, version = _fields(payload)
        view = template_store.publish_version(
            sessions, name, version, actor=requester, reviewed_by=approved_by
        )
        return {"template": view.name, "version": view.version, "status": view.status}


OPERATION = _TemplatePublish()
# Fingerprints of state are read without an access check: the service checks the people.
_READER = Principal(name="helmforge", role="admin", kind="system", id=0)


def publish_or_propose(
    sessions: sessionmaker[Session],
    name: str,
    version: str,
    *,
    actor: Principal,
    expected_revision: int | None = None,
) -> template_store.TemplateVersionView | ChangeRequestView:
    """Publish the draft now, or, when templates need review, propose it as a change request
    (returned, to be answered 202). Raises what ``publish_version`` raises."""
    if access.configuration(sessions).template_review:
        return change_requests.propose(
            sessions, kind=KIND, payload={"template": name, "version": version}, actor=actor
        )
    return template_store.publish_version(
        sessions, name, version, actor=actor, expected_revision=expected_revision
    )
