"""GitOps repositories on a helmforge server (``helmforge gitops ...`` with ``--server``).

Credentials go to the server once, in the request body, and never come back: the answers
say only ``has_password`` / ``has_ssh_key``.
"""

from __future__ import annotations

__all__ = ["add_repository", "list_repositories", "remove_repository"]

from typing import Any

from helmforge.core.secrets import Secret
from helmforge.services.remote_instances import client


def add_repository(
    *,
    server: str,
    token: str,
    name: str,
    url: str,
    branch: str,
    path: str | None = None,
    username: str | None = None,
    password: Secret | None = None,
    ssh_private_key: Secret | None = None,
    ssh_known_hosts: str | None = None,
) -> dict[str, Any]:
    """Configure repository ``name`` (admins): the repository as the server recorded it."""
    body: dict[str, Any] = {"name": name, "url": url, "branch": branch}
    optional = {"path": path, "username": username, "ssh_known_hosts": ssh_known_hosts}
    body.update({key: value for key, value in optional.items() if value is not None})
    if password is not None:
        body["password"] = password.reveal()
    if ssh_private_key is not None:
        body["ssh_private_key"] = ssh_private_key.reveal()
    with client(server, token) as opened:
        return opened.add_repository(body)


def list_repositories(*, server: str, token: str) -> list[dict[str, Any]]:
    """Every configured repository (no secret)."""
    with client(server, token) as opened:
        return opened.repositories()


def remove_repository(*, server: str, token: str, name: str) -> None:
    """Forget repository ``name``; the server refuses while instances are bound to it."""
    with client(server, token) as opened:
        opened.remove_repository(name)
