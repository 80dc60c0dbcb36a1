"""Several server processes on one port: ``helmforge serve --workers N``.

The supervisor (``supervise``) listens on the port itself and hands every accepted connection
to the next worker in turn, passing the socket over a Unix channel (SCM_RIGHTS): connections
are spread evenly, also when clients keep them alive. Both alternatives were measured with 32
kept-alive benchmark clients on 2 workers: one socket shared by the workers (uvicorn's own
supervisor) let the first worker to wake accept all 32 connections, and one SO_REUSEPORT socket
per worker spread them by a hash of the addresses, 21 against 11 in one run, and the busier
worker's clients waited twice as long.

Each worker (``python -m helmforge.server.workers CHANNEL_FD``) runs the application under
uvicorn on the connections it receives, HELMFORGE_THREADS requests at once (2 unless set).
Their request metrics go to one PROMETHEUS_MULTIPROC_DIR (a temporary directory unless that
variable is set), so ``/metrics`` from any worker reports the whole server. The supervisor
starts a worker again when one dies, stops them all on SIGINT or SIGTERM (the workers finish
the requests in flight; a worker whose supervisor is gone stops too), and gives up when a
worker fails at its start (the database down, say): that failure would only repeat.
"""

from __future__ import annotations

__all__ = ["run_worker", "supervise"]

import asyncio
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

#: A worker that ends within this many seconds of its start failed to start.
START_SECONDS = 10.0
#: Workers get this long to finish their requests after SIGTERM before they are killed.
STOP_SECONDS = 30.0
#: Listen queue of the supervisor's socket.
BACKLOG = 2048


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    channel: socket.socket  # the supervisor's end of the worker's Unix channel
    started: float


def run_worker(channel_fd: int) -> int:
    """Serve the application (on the store ``helmforge migrate`` prepared) on the connections
    the supervisor sends over ``channel_fd``, until SIGINT or SIGTERM or the supervisor goes
    away; returns the process exit code."""
    import uvicorn

    channel = socket.socket(fileno=channel_fd)
    channel.setblocking(False)

    class ChannelServer(uvicorn.Server):
        """uvicorn without a listening socket of its own: connections arrive on the channel."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])
            loop = asyncio.get_running_loop()
            config, state, app_state = self.config, self.server_state, self.lifespan.state
            pending: set[asyncio.Task[Any]] = set()  # kept until each connection is set up

            def protocol() -> asyncio.Protocol:
                # What uvicorn's own startup gives each connection of a listening socket.
                made: Any = config.http_protocol_class
                created: asyncio.Protocol = made(
                    config=config, server_state=state, app_state=app_state, _loop=loop
                )
                return created

            def receive() -> None:
                while True:
                    try:
                        data, descriptors, _, _ = socket.recv_fds(channel, 1, 16)
                    except BlockingIOError:
                        return
                    except OSError:
                        data, descriptors = b"", []
                    if not data and not descriptors:  # the supervisor is gone
                        loop.remove_reader(channel.fileno())
                        self.should_exit = True
                        return
                    for descriptor in descriptors:
                        connection = socket.socket(fileno=descriptor)
                        connection.setblocking(False)
                        task = loop.create_task(loop.connect_accepted_socket(protocol, connection))
                        pending.add(task)
                        task.add_done_callback(pending.discard)

            loop.add_reader(channel.fileno(), receive)

    config = uvicorn.Config(
        "helmforge.server.app:create_worker_app",
        factory=True,
        log_level="warning",
        access_log=False,
    )
    ChannelServer(config).run()
    return 0


def supervise(*, host: str, port: int, workers: int) -> int:
    """Run ``workers`` worker processes behind ``host:port`` until SIGINT or SIGTERM; returns
    the exit code for the command (a worker's own code when it failed at its start)."""
    if not hasattr(socket, "send_fds"):
        _say("error: --workers needs Unix sockets that pass connections (Linux, macOS)")
        return 1
    try:
        listener = _listen(host, port)
    except OSError as error:
        _say(f"error: cannot listen on {host}:{port}: {error.strerror}")
        return 1
    environment = dict(os.environ)
    # Several processes share the cores: two requests at a time in each keeps one thread busy
    # while the other waits for the database, without the four of a lone process contending
    # for its interpreter lock (measured: 2 workers, 2 threads 197-238 builds/s, p99 181-217
    # ms; 4 threads 161-193 builds/s, p99 210-285 ms).
    environment.setdefault("HELMFORGE_THREADS", "2")
    own_metrics = not environment.get("PROMETHEUS_MULTIPROC_DIR")
    if own_metrics:
        environment["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="helmforge-metrics-")
    else:
        os.makedirs(environment["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    stop_requested = False

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {
        number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)
    }
    running: list[_Worker] = []
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    turn = 0
    try:
        running = [_start(environment) for _ in range(workers)]
        while not stop_requested:
            if selector.select(timeout=0.2):
                turn = _hand_out(listener, running, turn)
            for index, worker in enumerate(running):
                code = worker.process.poll()
                if code is None or stop_requested:
                    continue
                if code == 0:  # a worker only ends well when told to stop (Ctrl-C)
                    return 0
                if time.monotonic() - worker.started < START_SECONDS:
                    _say(f"a worker failed at its start (exit code {code}); stopping")
                    return code if code > 0 else 1
                _say(f"worker {worker.process.pid} ended with exit code {code}; starting another")
                worker.channel.close()
                running[index] = _start(environment)
        return 0
    finally:
        selector.close()
        listener.close()
        _stop(running)
        for number, handler in previous.items():
            signal.signal(number, handler)
        if own_metrics:
            shutil.rmtree(environment["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _listen(host: str, port: int) -> socket.socket:
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, protocol)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    return listener


def _hand_out(listener: socket.socket, running: list[_Worker], turn: int) -> int:
    """Accept every waiting connection and give each to the next live worker in turn;
    returns the next turn."""
    while True:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return turn
        except OSError:  # out of descriptors, or the client gave up: try again later
            return turn
        with connection:
            for _ in range(len(running)):
                worker = running[turn % len(running)]
                turn += 1
                if worker.process.poll() is not None:
                    continue
                try:
                    socket.send_fds(worker.channel, [b"c"], [connection.fileno()])
                    break
                except OSError:  # the worker is going away; the next one takes it
                    continue
        # The worker holds its own copy of the connection; this one closes here.


def _start(environment: dict[str, str]) -> _Worker:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        command = [sys.executable, "-m", "helmforge.server.workers", str(theirs.fileno())]
        # This interpreter and this module, with the descriptor of the worker's channel.
        process = subprocess.Popen(  # noqa: S603
            command, env=environment, pass_fds=(theirs.fileno(),)
        )
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    return _Worker(process=process, channel=ours, started=time.monotonic())


def _say(message: str) -> None:
    print(f"helmforge: {message}", file=sys.stderr, flush=True)


def _stop(running: list[_Worker]) -> None:
    """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL after STOP_SECONDS."""
    for worker in running:
        if worker.process.poll() is None:
            worker.process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for worker in running:
        try:
            worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        worker.channel.close()


if __name__ == "__main__":
    sys.exit(run_worker(int(sys.argv[1])))
