"""Change requests on a helmforge server (``helmforge changes ...``): list, show, approve,
reject.

Every decision is the server's: this module only carries the caller's token there and the
answer back, so a refusal (the requester approving their own request, say) is the server's 403.
"""

from __future__ import annotations

__all__ = ["decide_change", "list_changes", "show_change"]

from typing import Any

from helmforge.adapters.server_clients import ServerClient
from helmforge.core.errors import InputError


def _token(token: str) -> str:
    if not token:
        raise InputError("no API token: set HELMFORGE_TOKEN (create one: helmforge tokens create)")
    return token


def list_changes(*, server: str, token: str, state: str | None = None) -> list[dict[str, Any]]:
    """The change requests the token's user may see, newest first (``state`` filters)."""
    with ServerClient(server, token=_token(token)) as client:
        return client.change_requests(state=state)


def show_change(*, server: str, token: str, request_id: int) -> dict[str, Any]:
    """Change request ``request_id`` as the server shows it: a pending instance change with
    its ``review`` (the diffs approving would apply now)."""
    with ServerClient(server, token=_token(token)) as client:
        return client.change_request(request_id)


def decide_change(
    *, server: str, token: str, request_id: int, decision: str, comment: str = ""
) -> dict[str, Any]:
    """Approve or reject change request ``request_id``; the request as the server has it now."""
    with ServerClient(server, token=_token(token)) as client:
        return client.decide_change_request(request_id, decision, comment=comment)
