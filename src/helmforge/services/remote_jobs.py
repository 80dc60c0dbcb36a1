"""Jobs and fleet work on a helmforge server (``helmforge jobs ...``, ``helmforge fleet ...``).

Every decision is the server's: this module carries the caller's token there and the answers
back. ``wait_job`` asks again until the job ends, a little less often the longer it runs.
"""

from __future__ import annotations

__all__ = ["FINISHED", "rollout", "show_job", "start_fleet_job", "wait_job"]

import time
from collections.abc import Callable
from typing import Any

from helmforge.adapters.server_clients import ServerClient
from helmforge.core.errors import InputError

FINISHED = ("succeeded", "failed", "cancelled")


def _token(token: str) -> str:
    if not token:
        raise InputError("no API token: set HELMFORGE_TOKEN (create one: helmforge tokens create)")
    return token


def show_job(*, server: str, token: str, job_id: str) -> dict[str, Any]:
    """The job as the server has it now."""
    with ServerClient(server, token=_token(token)) as client:
        return client.job(job_id)


def wait_job(
    *,
    server: str,
    token: str,
    job_id: str,
    progress: Callable[[dict[str, Any]], None] = lambda _job: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Ask for the job until it has ended and return it; ``progress`` sees every answer whose
    state or progress changed."""
    delay, last = 0.2, None
    with ServerClient(server, token=_token(token)) as client:
        while True:
            job = client.job(job_id)
            seen = (job.get("state"), str(job.get("progress")))
            if seen != last:
                progress(job)
                last = seen
            if job.get("state") in FINISHED:
                return job
            sleep(delay)
            delay = min(delay * 1.5, 2.0)


def start_fleet_job(*, server: str, token: str, action: str, body: dict[str, Any]) -> str:
    """Start fleet work (``verify`` or ``impact``) and return the id of its job."""
    with ServerClient(server, token=_token(token)) as client:
        return str(client.start_fleet_job(action, body)["job"])


def rollout(
    *,
    server: str,
    token: str,
    rollout_id: str | None,
    action: str | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start a rollout (``rollout_id`` None), read one (``action`` None), or pause, resume,
    abort or roll it back; the rollout as the server has it then."""
    with ServerClient(server, token=_token(token)) as client:
        return client.rollout(rollout_id, action, body)
