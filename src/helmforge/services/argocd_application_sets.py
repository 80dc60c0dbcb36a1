"""The ApplicationSet of a GitOps repository (DESIGN §6, optional): one Argo CD object that
generates every instance's Application from its ``application.yaml``, instead of one
Application applied per instance. helmforge renders it; an Argo CD admin applies it once.
With ``HELMFORGE_ARGOCD_APPLICATIONSET`` on, a sync waits for the generated Application."""

from __future__ import annotations

__all__ = ["application_set"]

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.core.instances.application_sets import application_set_yaml
from helmforge.services import access, argocd_servers, gitops_repositories


def application_set(
    sessions: sessionmaker[Session], server: str, *, repository: str, actor: Principal
) -> str:
    """The ApplicationSet YAML generating the Applications of ``repository``'s instances in
    Argo CD server ``server``'s project (``argocd.manage``). Raises ``NotFoundError`` (no
    such server or repository), ``PermissionDeniedError``."""
    access.require(sessions, actor, "argocd.manage")
    view = argocd_servers.check_server(sessions, server)
    repo = gitops_repositories.check_repository(sessions, repository)
    return application_set_yaml(
        name=f"helmforge-{repo.name}",
        repository_url=repo.url,
        branch=repo.branch,
        base_path=repo.path,
        project=view.project,
    )
