"""A change request the real way: a registry recorded by the admin, a chart built by the
requester for ``ledger/acme/prod/a1``, and its publish into prod, which answers 202 with a
pending change request when prod needs approval (DESIGN §9)."""

from __future__ import annotations

from typing import Any

import httpx

from helmforge.core.access.principals import SYSTEM
from helmforge.services import accounts
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path

PASSWORD = "a long enough password"
PROD_CONTEXT = {
    "product": "ledger",
    "customer": "acme",
    "environment": "prod",
    "instance": "a1",
    "version": "3.4.0",
}


def user_token(sessions: Any, name: str, role: str) -> str:
    """Create local user ``name`` (password ``PASSWORD``) with ``role``; a token of theirs."""
    accounts.create_user(sessions, name, role=role, password=PASSWORD, actor=SYSTEM)
    return accounts.create_token(sessions, user=name, actor=SYSTEM).token


def _call(url: str, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/api/v1{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert response.status_code in (201, 202), response.text
    return dict(response.json())


def add_lab_registry(url: str, admin_token: str, registry: RegistryServer) -> None:
    """Record registry ``lab`` (a fresh repository path of ``registry``) as the admin."""
    _call(url, "/registries", admin_token, {
        "name": "lab", "url": f"oci://{registry.authority}/{unique_path()}",
        "username": ROBOT, "password": CANARY_PASSWORD, "plain_http": True,
    })  # fmt: skip


def propose_prod_publish(url: str, requester_token: str) -> int:
    """Build ``web-service@1.2.0`` for prod and publish it to ``lab``: the change request id."""
    body = {"template": "web-service@1.2.0", "context": PROD_CONTEXT, "values": {}}
    built = _call(url, "/charts", requester_token, body)
    request = _call(url, f"/charts/{built['id']}/publish", requester_token, {"registry": "lab"})
    assert request["state"] == "pending", request
    return int(request["change_request"])
