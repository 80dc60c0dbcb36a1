"""Routes that call outside systems (a registry, a Git remote) run on threads of their own.

``run_outbound`` runs a service call on a thread of the outbound pool (as many threads as the
request threads, one pool per event loop): a peer that hangs holds those until their deadline,
while every other route keeps the request threads (RELIABILITY 41).
"""

from __future__ import annotations

__all__ = ["run_outbound"]

from collections.abc import Callable

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from fastapi import Request

from helmforge.services.app_state import AppState

# One limiter per event loop, as anyio keeps its default one.
_OUTBOUND: RunVar[anyio.CapacityLimiter] = RunVar("helmforge_outbound_limiter")


def _outbound_limiter(threads: int) -> anyio.CapacityLimiter:
    try:
        return _OUTBOUND.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(threads)
        _OUTBOUND.set(limiter)
        return limiter


async def run_outbound[T](state: AppState[Request], call: Callable[[], T]) -> T:
    """``call()`` on a thread of the outbound calls' own pool, not on the request threads."""
    limiter = _outbound_limiter(state.settings.threads)
    return await anyio.to_thread.run_sync(call, limiter=limiter)
