"""Several server processes on one port: ``helmforge serve --workers N``.

The supervisor (``supervise``) listens on the port itself and hands every accepted connection
to the next worker in turn, passing the socket over a Unix channel (SCM_RIGHTS): connections
are spread evenly, also when clients keep them alive. Both alternatives were measured with 32
kept-alive benchmark clients on 2 workers: one socket shared by the workers (uvicorn's own
supervisor, or gunicorn's) let the first worker to wake accept all 32 connections, and one
SO_REUSEPORT socket per worker spread them by a hash of the addresses, 21 against 11 in one
run, and the busier worker's clients waited twice as long.

Each worker (``python -m helmforge.server.workers CHANNEL_FD``) runs the application with
uvicorn's public interface only: ``Server.serve(sockets=[...])`` on an event loop of its own
(``_ChannelLoop``, a uvloop loop). uvicorn serves a socket it is given by passing its protocol
factory to the loop's ``create_server``, a public asyncio method; the worker's loop keeps that
factory and serves every connection that arrives on the channel with it through
``connect_accepted_socket``, another public asyncio method. The socket uvicorn is given is a
listening Unix socket whose name is removed at once: nobody can connect to it.

A worker tells the supervisor it serves (once uvicorn started the application) with one
message on its channel; workers run HELMFORGE_THREADS requests at once (2 unless set). Their
request metrics go to one PROMETHEUS_MULTIPROC_DIR (a temporary directory unless that
variable is set), so ``/metrics`` from any worker reports the whole server. The supervisor
starts a worker again when one that was serving dies (its channel closes), stops them all on
SIGINT or SIGTERM (the workers finish the requests in flight; a worker whose supervisor is
gone stops the same way), and gives up when a worker dies before it served (the database
down, say): that failure would only repeat.
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
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import uvloop

#: Workers get this long to finish their requests after SIGTERM before they are killed.
STOP_SECONDS = 30.0
#: Listen queue of the supervisor's socket.
BACKLOG = 2048
#: What a worker sends on its channel once it serves.
SERVING = b"serving"


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    channel: socket.socket  # the supervisor's end of the worker's Unix channel
    serving: bool = False


def run_worker(channel_fd: int) -> int:
    """Serve the application (on the store ``helmforge migrate`` prepared) on the connections
    the supervisor sends over ``channel_fd``, until SIGINT or SIGTERM or the supervisor goes
    away; returns the process exit code."""
    import uvicorn

    from helmforge.server.uvicorn_options import uvicorn_options

    channel = socket.socket(fileno=channel_fd)
    channel.setblocking(False)
    config = uvicorn.Config(
        "helmforge.server.app:create_worker_app",
        factory=True,
        **uvicorn_options(),
    )
    server = uvicorn.Server(config)
    placeholder = _unreachable_listener()
    asyncio.run(server.serve(sockets=[placeholder]), loop_factory=_channel_loop_factory(channel))
    return 0


def _unreachable_listener() -> socket.socket:
    """A Unix stream socket bound to a name that is removed at once: it can listen, and no
    client can ever reach it."""
    folder = tempfile.mkdtemp(prefix="helmforge-worker-")
    path = os.path.join(folder, "unused")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return listener


def _channel_loop_factory(channel: socket.socket) -> Callable[[], asyncio.AbstractEventLoop]:
    import uvloop

    class _ChannelLoop(uvloop.Loop):
        """uvloop, also serving the connections that arrive on ``channel``."""

        async def create_server(
            self, protocol_factory: Callable[[], asyncio.BaseProtocol], *args: Any, **kwargs: Any
        ) -> asyncio.Server:
            server = await super().create_server(protocol_factory, *args, **kwargs)
            _serve_channel(self, channel, protocol_factory, server)
            # uvloop's own server class, which asyncio's annotation of this method cannot name.
            return cast("asyncio.Server", server)

    return _ChannelLoop


def _serve_channel(
    loop: uvloop.Loop,
    channel: socket.socket,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    server: asyncio.AbstractServer,
) -> None:
    """Serve each connection received on ``channel`` as one accepted by ``server``; tell the
    supervisor the worker serves; stop the worker (as SIGTERM does) when the channel closes."""
    pending: set[asyncio.Task[Any]] = set()  # kept until each connection is set up

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
                signal.raise_signal(signal.SIGTERM)
                return
            for descriptor in descriptors:
                connection = socket.socket(fileno=descriptor)
                if not server.is_serving():  # shutting down: uvicorn closed its server
                    connection.close()
                    continue
                connection.setblocking(False)
                task = loop.create_task(loop.connect_accepted_socket(protocol_factory, connection))
                pending.add(task)
                task.add_done_callback(pending.discard)

    loop.add_reader(channel.fileno(), receive)
    channel.send(SERVING)


def supervise(*, host: str, port: int, workers: int) -> int:
    """Run ``workers`` worker processes behind ``host:port`` until SIGINT or SIGTERM; returns
    the exit code for the command (a worker's own code when it failed at its start)."""
    if not hasattr(socket, "send_fds"):
        _say("error: --workers needs Unix sockets that pass connections (Linux, macOS)")
        return 1
    environment = dict(os.environ)
    given_metrics = environment.get("PROMETHEUS_MULTIPROC_DIR")
    if given_metrics:
        try:
            os.makedirs(given_metrics, exist_ok=True)
        except OSError as error:
            _say(f"error: PROMETHEUS_MULTIPROC_DIR {given_metrics}: {error.strerror}")
            return 1
    try:
        listener = _listen(host, port)
    except OSError as error:
        _say(f"error: cannot listen on {host}:{port}: {error.strerror}")
        return 1
    _say(f"serving on http://{host}:{port} with {workers} workers")
    # Several processes share the cores: two requests at a time in each keeps one thread busy
    # while the other waits for the database, without the four of a lone process contending
    # for its interpreter lock (measured: 2 workers, 2 threads 197-238 builds/s, p99 181-217
    # ms; 4 threads 161-193 builds/s, p99 210-285 ms).
    environment.setdefault("HELMFORGE_THREADS", "2")
    own_metrics = not given_metrics
    if own_metrics:
        environment["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="helmforge-metrics-")
    stop_requested = False

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    # A signal also writes to this pair, so that the wait for connections and worker
    # messages ends at once (Python retries an interrupted wait otherwise).
    wakeup, wakeup_writer = socket.socketpair()
    for end in (wakeup, wakeup_writer):
        end.setblocking(False)
    previous = {
        number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)
    }
    previous_wakeup = signal.set_wakeup_fd(wakeup_writer.fileno())
    running: list[_Worker] = []
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wakeup, selectors.EVENT_READ)
    try:
        running = [_start(environment, selector) for _ in range(workers)]
        return _supervise_until_stopped(
            listener,
            wakeup=wakeup,
            selector=selector,
            running=running,
            environment=environment,
            stop_requested=lambda: stop_requested,
        )
    finally:
        selector.close()
        listener.close()
        _stop(running)
        signal.set_wakeup_fd(previous_wakeup)
        wakeup.close()
        wakeup_writer.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
        if own_metrics:
            shutil.rmtree(environment["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _supervise_until_stopped(
    listener: socket.socket,
    *,
    wakeup: socket.socket,
    selector: selectors.BaseSelector,
    running: list[_Worker],
    environment: dict[str, str],
    stop_requested: Callable[[], bool],
) -> int:
    """Hand out connections and replace workers until a stop is requested (0) or a worker
    dies before it served (its exit code)."""
    turn = 0
    while not stop_requested():
        for key, _ in selector.select():
            if key.fileobj is listener:
                turn = _hand_out(listener, running, turn)
                continue
            if key.fileobj is wakeup:
                _drain(wakeup)
                continue
            worker: _Worker = key.data
            if _read_messages(worker):
                continue
            # The channel closed: the worker has ended.
            selector.unregister(worker.channel)
            worker.channel.close()
            code = worker.process.wait()
            if stop_requested():
                break
            if code == 0:  # a worker only ends well when told to stop (Ctrl-C)
                return 0
            if not worker.serving:
                _say(f"a worker failed at its start (exit code {code}); stopping")
                return code if code > 0 else 1
            _say(f"worker {worker.process.pid} ended with exit code {code}; starting another")
            running[running.index(worker)] = _start(environment, selector)
    return 0


def _read_messages(worker: _Worker) -> bool:
    """Read what the worker sent; False once its channel is closed (the worker ended)."""
    while True:
        try:
            message = worker.channel.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not message:
            return False
        if message == SERVING and not worker.serving:
            worker.serving = True
            _say(f"worker {worker.process.pid} serving")


def _drain(wakeup: socket.socket) -> None:
    try:
        while wakeup.recv(64):
            pass
    except BlockingIOError:
        pass


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


def _start(environment: dict[str, str], selector: selectors.BaseSelector) -> _Worker:
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
    worker = _Worker(process=process, channel=ours)
    selector.register(ours, selectors.EVENT_READ, worker)
    return worker


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
        if worker.channel.fileno() != -1:
            worker.channel.close()


if __name__ == "__main__":
    sys.exit(run_worker(int(sys.argv[1])))
