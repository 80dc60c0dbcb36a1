"""Several server processes on one port: ``helmforge serve --workers N``.

Each worker is a process of its own (``python -m helmforge.server.workers HOST PORT``) that
binds its own listening socket with SO_REUSEPORT, so the kernel spreads new connections over
the workers evenly. With one socket shared by every worker (uvicorn's own supervisor), the
worker that wakes first accepts a whole burst of connections: with kept-alive API clients one
worker served all 32 benchmark clients while the other idled.

Their request metrics go to one PROMETHEUS_MULTIPROC_DIR (a temporary directory unless that
variable is set), so ``/metrics`` from any worker reports the whole server.

``supervise`` starts the workers, starts a worker again when one dies, stops them all on
SIGINT or SIGTERM, and gives up when a worker fails at its start (port taken, database down):
that failure would only repeat.
"""

from __future__ import annotations

__all__ = ["listening_socket", "run_worker", "supervise"]

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType

#: A worker that ends within this many seconds of its start failed to start.
START_SECONDS = 10.0
#: Workers get this long to finish their requests after SIGTERM before they are killed.
STOP_SECONDS = 30.0
#: Listen queue of each worker's socket.
BACKLOG = 2048


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` that other workers may bind too
    (SO_REUSEPORT); raises ``OSError`` when the address is taken by anything else."""
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, protocol)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def _probe(host: str, port: int) -> None:
    """Raise ``OSError`` when anything listens on ``host:port`` already, helmforge workers
    included: without this check a second ``serve`` on the port would silently join the
    first one's workers (SO_REUSEPORT groups sockets of one user)."""
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


def run_worker(host: str, port: int) -> int:
    """Serve the application (on the store ``helmforge migrate`` prepared) from this process
    until SIGINT or SIGTERM; returns the process exit code."""
    import uvicorn

    try:
        listener = listening_socket(host, port)
    except OSError as error:
        print(
            f"helmforge: error: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr
        )
        return 1
    config = uvicorn.Config(
        "helmforge.server.app:create_worker_app",
        factory=True,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def supervise(*, host: str, port: int, workers: int) -> int:
    """Run ``workers`` worker processes on ``host:port`` until SIGINT or SIGTERM; returns the
    exit code for the command (a worker's own code when it failed at its start)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        _say("error: --workers needs SO_REUSEPORT (Linux spreads connections over the workers)")
        return 1
    try:
        _probe(host, port)
    except OSError as error:
        _say(f"error: cannot listen on {host}:{port}: {error.strerror}")
        return 1
    command = [sys.executable, "-m", "helmforge.server.workers", host, str(port)]
    # Every worker counts its requests in this directory; /metrics from any worker adds them.
    environment = dict(os.environ)
    own_metrics = not environment.get("PROMETHEUS_MULTIPROC_DIR")
    if own_metrics:
        environment["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="helmforge-metrics-")
    stop_requested = False

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {
        number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)
    }
    running: list[tuple[subprocess.Popen[bytes], float]] = []
    try:
        running = [(_start(command, environment), time.monotonic()) for _ in range(workers)]
        while not stop_requested:
            time.sleep(0.2)
            for index, (process, started) in enumerate(running):
                code = process.poll()
                if code is None or stop_requested:
                    continue
                if code == 0:  # a worker only ends well when told to stop (Ctrl-C)
                    return 0
                if time.monotonic() - started < START_SECONDS:
                    _say(f"a worker failed at its start (exit code {code}); stopping")
                    return code if code > 0 else 1
                _say(f"worker {process.pid} ended with exit code {code}; starting another")
                running[index] = (_start(command, environment), time.monotonic())
        return 0
    finally:
        _stop([process for process, _ in running])
        for number, handler in previous.items():
            signal.signal(number, handler)
        if own_metrics:
            shutil.rmtree(environment["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _start(command: list[str], environment: dict[str, str]) -> subprocess.Popen[bytes]:
    # This interpreter and this module, with the host and port of the command line.
    return subprocess.Popen(command, env=environment)  # noqa: S603


def _say(message: str) -> None:
    print(f"helmforge: {message}", file=sys.stderr, flush=True)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL after STOP_SECONDS."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    sys.exit(run_worker(sys.argv[1], int(sys.argv[2])))
