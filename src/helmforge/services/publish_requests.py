"""Chart publishes as change requests: the ``chart.publish`` operation of
``services.change_requests``, and ``publish_or_propose``, which the API and the UI call.

In an environment that needs approval a publish becomes a change request naming the build, the
registry and the chart's push history at that moment; approving it publishes that very build
(``chart_pushes.publish_build`` with the approvers recorded), unless the chart was pushed there
in between, which makes the request stale.
"""

from __future__ import annotations

__all__ = ["OPERATION", "publish_or_propose"]

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.core.errors import InputError
from helmforge.services import access, change_requests, chart_builds, chart_pushes, registries
from helmforge.services.change_requests import ChangeRequestView, Proposal

KIND = "chart.publish"


def _fields(payload: Mapping[str, Any]) -> tuple[str, str]:
    build, registry = change_requests.payload_fields(payload, "build", "registry", kind=KIND)
    return build, registry


class _ChartPublish:
    """Publishing one recorded build to one configured registry."""

    approver_permission = "change.approve"
    reader_permission = "chart.read"

    def propose(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        actor: Principal,
        context: Mapping[str, Any],
    ) -> Proposal:
        build_id, registry = _fields(payload)
        build = chart_builds.get_build(sessions, build_id, actor=actor)
        target = chart_builds.target_of(build)
        access.require(sessions, actor, "chart.publish", target)
        registries.check_registry(sessions, registry)
        diff = (
            f"publish chart {build.name} {build.version} (build {build.id}, {build.digest})\n"
            f"  from template {build.template}\n"
            f"  to registry {registry}\n"
        )
        environment = target.context[2] if target.context else ""
        return Proposal(
            target=target,
            diff=diff,
            base=self.base(sessions, payload),
            required=change_requests.required_approvals(sessions, environment),
        )

    def base(self, sessions: sessionmaker[Session], payload: Mapping[str, Any]) -> str:
        build_id, registry = _fields(payload)
        with sessions() as session:
            chart = chart_builds.chart_name_of(session, build_id)
        return chart_pushes.push_fingerprint(sessions, registry=registry, chart=chart)

    def apply(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        requester: Principal,
        approved_by: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> dict[str, Any]:
        build_id, registry = _fields(payload)
        key = context.get("registry_key")
        if not isinstance(key, bytes):
            raise InputError("applying a chart.publish change needs the registry key")
        outcome = chart_pushes.publish_build(
            sessions,
            build_id,
            registry=registry,
            key=key,
            actor=requester,
            approved_by=approved_by,
            deadline=context.get("deadline"),
        )
        return {
            "build_id": outcome.build_id,
            "registry": outcome.registry,
            "chart": outcome.chart,
            "version": outcome.version,
            "tag": outcome.tag,
            "status": outcome.status,
            "manifest_digest": outcome.manifest_digest,
        }


OPERATION = _ChartPublish()


def publish_or_propose(
    sessions: sessionmaker[Session],
    build_id: str,
    *,
    registry: str,
    key: bytes,
    actor: Principal,
    deadline: float | None = None,
) -> chart_pushes.PublishOutcome | ChangeRequestView:
    """Publish the build now, or, where its environment needs approval, propose it as a
    change request (returned, to be answered 202). Raises what ``publish_build`` raises."""
    build = chart_builds.get_build(sessions, build_id, actor=actor)
    target = chart_builds.target_of(build)
    environment = target.context[2] if target.context else ""
    if change_requests.required_approvals(sessions, environment):
        return change_requests.propose(
            sessions, kind=KIND, payload={"build": build.id, "registry": registry}, actor=actor
        )
    return chart_pushes.publish_build(
        sessions, build_id, registry=registry, key=key, actor=actor, deadline=deadline
    )
