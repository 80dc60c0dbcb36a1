"""``helmforge serve --workers N`` and ``helmforge migrate``: real processes on loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HELMFORGE = str(Path(sys.executable).with_name("helmforge"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _helmforge(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELMFORGE, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _wait_ready(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "serve --workers did not answer"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HELMFORGE_DATA_DIR": str(tmp_path / "data"),
        "HELMFORGE_LOG_FORMAT": "json",
        # Where a killed supervisor could not clean up its own temporary one (made if missing).
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }


@pytest.fixture
def served(
    environment: dict[str, str], tmp_path: Path
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [HELMFORGE, "serve", "--port", str(port), "--workers", "2"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        _wait_ready(port, process)
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
        log.close()


def test_kept_alive_connections_are_spread_over_the_workers(
    served: tuple[int, subprocess.Popen[str]], tmp_path: Path
) -> None:
    port, process = served
    workers = _children(process.pid)
    assert len(workers) == 2
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(24)]
    for connection in connections:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b'{"status":"ok"}'
    time.sleep(0.5)  # the log lines of the last answers
    pids = [
        json.loads(line)["pid"]
        for line in (tmp_path / "serve.log").read_text().splitlines()
        if line.startswith("{") and '"/healthz"' in line
    ]
    assert len(pids) == 24
    # The supervisor hands the connections to the workers in turn.
    assert sorted(pids.count(worker) for worker in workers) == [12, 12]
    for connection in connections:
        connection.close()
    # /metrics from either worker counts the requests of both.
    for connection in connections[:4]:
        connection.connect()
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
        counted = [
            line
            for line in text.splitlines()
            if line.startswith("helmforge_http_requests_total{") and 'route="/healthz"' in line
        ]
        assert len(counted) == 1
        assert float(counted[0].rsplit(" ", 1)[1]) == 24


def test_a_dead_worker_is_replaced_and_sigterm_stops_every_worker(
    served: tuple[int, subprocess.Popen[str]],
) -> None:
    port, process = served
    first, second = _children(process.pid)
    time.sleep(10)  # past the start period, in which a dying worker stops the server
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        workers = _children(process.pid)
        if len(workers) == 2 and first not in workers:
            break
        assert time.monotonic() < deadline, f"no new worker: {workers}"
        time.sleep(0.2)
    assert second in workers
    _wait_ready(port, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    for pid in workers:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def test_a_second_serve_on_a_taken_port_fails_instead_of_joining(
    served: tuple[int, subprocess.Popen[str]], environment: dict[str, str]
) -> None:
    port, _ = served
    second = _helmforge(environment, "serve", "--port", str(port), "--workers", "2")
    assert second.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr


def test_migrate_prepares_the_store_once(environment: dict[str, str]) -> None:
    first = _helmforge(environment, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("generated password") == 1
    again = _helmforge(environment, "migrate")
    assert again.returncode == 0, again.stderr
    assert "generated password" not in again.stdout


def test_serve_with_workers_and_a_bad_setting_starts_no_worker(
    environment: dict[str, str],
) -> None:
    environment["HELMFORGE_DATABASE_URL"] = "mysql://user:s3cret@db/helmforge"
    result = _helmforge(environment, "serve", "--port", str(_free_port()), "--workers", "2")
    assert result.returncode == 1
    assert "unsupported database" in result.stderr
    assert "s3cret" not in result.stderr
    assert "serving on" not in result.stderr


def test_workers_stop_when_the_supervisor_is_killed(
    served: tuple[int, subprocess.Popen[str]],
) -> None:
    _, process = served
    workers = _children(process.pid)
    assert len(workers) == 2
    process.kill()
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "workers outlived their supervisor"
        time.sleep(0.2)
