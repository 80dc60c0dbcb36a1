"""Real servers on loopback: a free port, an application on uvicorn in a thread, and waiting for
a started ``helmforge serve`` to answer.

Waits are on a condition (the server says it started, ``/readyz`` answers 200). ``UPPER_BOUND``
only keeps a server that never comes up from hanging the run; it is no pace a machine must keep.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from helmforge.server.uvicorn_options import uvicorn_options

UPPER_BOUND = 180.0  # seconds
_POLL = 0.05  # seconds between two looks at a condition; no outcome depends on it


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on uvicorn as ``helmforge serve`` does and yield its URL (proxy headers
    count only when the app's settings trust loopback, ``HELMFORGE_TRUSTED_PROXIES``)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", **uvicorn_options())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    bound = time.monotonic() + UPPER_BOUND
    while not server.started:
        assert thread.is_alive(), "server thread died"
        assert time.monotonic() < bound, f"server did not start within {UPPER_BOUND:.0f} s"
        time.sleep(_POLL)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=UPPER_BOUND)


def wait_until_ready(url: str, process: subprocess.Popen[str]) -> None:
    """Return once ``GET {url}/readyz`` answers 200; fail if ``process`` exits first."""
    bound = time.monotonic() + UPPER_BOUND
    while True:
        assert process.poll() is None, process.communicate()
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < bound, f"{url} did not answer within {UPPER_BOUND:.0f} s"
        time.sleep(_POLL)
