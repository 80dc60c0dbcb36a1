"""Argo CD on a helmforge server (``helmforge argocd ...`` and ``helmforge instances sync``
with ``--server``).

The Argo CD token goes to the server once, in the request body, and never comes back: answers
say only ``has_token``. A sync is the server's: it names the exact revisions and waits for
Argo CD; this module carries the caller's token there and the result back.
"""

from __future__ import annotations

__all__ = [
    "SYNC_TIMEOUT",
    "add_server",
    "application_set",
    "list_servers",
    "remove_server",
    "sync_instance",
]

from typing import Any

from helmforge.core.secrets import Secret
from helmforge.services.remote_instances import client

#: How long the command waits for the server's answer to a sync: longer than any sync the
#: server allows itself (HELMFORGE_ARGOCD_DEADLINE bounds it there).
SYNC_TIMEOUT = 900.0


def add_server(
    *,
    server: str,
    token: str,
    name: str,
    url: str,
    argocd_token: Secret,
    insecure: bool = False,
    project: str | None = None,
) -> dict[str, Any]:
    """Configure Argo CD server ``name`` (admins): the server as recorded (no token)."""
    body: dict[str, Any] = {"name": name, "url": url, "token": argocd_token.reveal()}
    if insecure:
        body["insecure"] = True
    if project is not None:
        body["project"] = project
    with client(server, token) as opened:
        return opened.add_argocd_server(body)


def list_servers(*, server: str, token: str) -> list[dict[str, Any]]:
    """Every configured Argo CD server (no token)."""
    with client(server, token) as opened:
        return opened.argocd_servers()


def remove_server(*, server: str, token: str, name: str) -> None:
    """Forget Argo CD server ``name``; the server refuses while instances are bound to it."""
    with client(server, token) as opened:
        opened.remove_argocd_server(name)


def application_set(*, server: str, token: str, name: str, repository: str) -> str:
    """The ApplicationSet YAML of ``repository`` for Argo CD server ``name`` (admins)."""
    with client(server, token) as opened:
        return opened.application_set(name, repository)


def sync_instance(*, server: str, token: str, instance: str) -> dict[str, Any]:
    """Sync the instance with Argo CD: the revision, chart version, phase and health."""
    with client(server, token) as opened:
        return opened.sync_instance(instance, timeout=SYNC_TIMEOUT)
