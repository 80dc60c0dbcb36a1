"""``helmforge serve --workers N`` and ``helmforge migrate``: real processes on loopback."""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

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
        # Only a bound against a hung process: a loaded shared machine can take a minute.
        timeout=300,
        check=False,
    )


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


class _Lines:
    """The lines a process writes to a pipe, read by a thread; tests wait on a condition for
    the lines they expect instead of sleeping."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._stream = stream
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], what: str) -> None:
        # The bound only keeps a broken server from hanging the test run.
        with self._changed:
            found = self._changed.wait_for(lambda: predicate(self.lines), timeout=300)
        assert found, f"{what}; got: {self.lines[-20:]}"

    def close(self) -> None:
        """Once the writers are gone: end the reader and close the pipe."""
        self._reader.join(timeout=60)
        self._stream.close()

    def count(self, text: str) -> int:
        with self._changed:
            return sum(text in line for line in self.lines)


def _serving(count: int) -> Callable[[list[str]], bool]:
    return lambda lines: (
        sum("helmforge: worker " in line and line.endswith(" serving") for line in lines) >= count
    )


def _request(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        connection.close()


def _wait_exited(pids: list[int]) -> None:
    """Wait until every process in ``pids`` has ended (pidfd: no polling)."""
    for pid in pids:
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            readable, _, _ = select.select([descriptor], [], [], 120)
            assert readable, f"process {pid} did not end"
        finally:
            os.close(descriptor)


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
def served(environment: dict[str, str]) -> Iterator[tuple[int, subprocess.Popen[str], _Lines]]:
    """``serve --workers 2``, once both workers serve; its stderr (the supervisor's lines and
    the workers' JSON request log) in a ``_Lines``."""
    port = _free_port()
    process = subprocess.Popen(
        [HELMFORGE, "serve", "--port", str(port), "--workers", "2"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines = _Lines(process.stderr)
    try:
        lines.wait_for(_serving(2), "both workers serve")
        yield port, process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        lines.close()


def test_kept_alive_connections_are_spread_over_the_workers(
    served: tuple[int, subprocess.Popen[str], _Lines],
) -> None:
    port, process, lines = served
    workers = _children(process.pid)
    assert len(workers) == 2
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(24)]
    for connection in connections:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b'{"status":"ok"}'

    def answers(found: list[str]) -> list[int]:
        return [
            json.loads(line)["pid"]
            for line in found
            if line.startswith("{") and '"/healthz"' in line
        ]

    lines.wait_for(lambda found: len(answers(found)) >= 24, "a log line for every answer")
    pids = answers(lines.lines)
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
    served: tuple[int, subprocess.Popen[str], _Lines],
) -> None:
    port, process, lines = served
    first, second = _children(process.pid)
    # Both served (the fixture waited for that), so a death is no failure at start.
    os.kill(first, signal.SIGKILL)
    lines.wait_for(_serving(3), "a third worker serves")
    assert lines.count(f"worker {first} ended with exit code -9; starting another") == 1
    workers = _children(process.pid)
    assert len(workers) == 2
    assert first not in workers
    assert second in workers
    for _ in range(4):  # in turn to each of them
        assert _request(port, "/readyz")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    for pid in workers:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def test_a_second_serve_on_a_taken_port_fails_instead_of_joining(
    served: tuple[int, subprocess.Popen[str], _Lines], environment: dict[str, str]
) -> None:
    port, _, _ = served
    second = _helmforge(environment, "serve", "--port", str(port), "--workers", "2")
    assert second.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    assert "serving on" not in second.stderr


def test_migrate_prepares_the_store_once(environment: dict[str, str]) -> None:
    first = _helmforge(environment, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("generated password") == 1
    again = _helmforge(environment, "migrate")
    assert again.returncode == 0, again.stderr
    assert "generated password" not in again.stdout


@pytest.mark.postgres
def test_migrate_installs_the_job_queue_schema_on_postgresql(
    environment: dict[str, str], tmp_path: Path
) -> None:
    import psycopg

    from tests.support.databases import fresh_database_url

    with fresh_database_url("postgresql", tmp_path) as url:
        environment["HELMFORGE_DATABASE_URL"] = url
        result = _helmforge(environment, "migrate")
        assert result.returncode == 0, result.stderr
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain) as connection:
            tables = {
                name
                for (name,) in connection.execute(
                    "SELECT tablename FROM pg_tables WHERE tablename LIKE 'procrastinate_%'"
                )
            }
    assert "procrastinate_jobs" in tables


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
    served: tuple[int, subprocess.Popen[str], _Lines],
) -> None:
    _, process, _ = served
    workers = _children(process.pid)
    assert len(workers) == 2
    process.kill()
    process.wait(timeout=30)
    _wait_exited(workers)


def test_a_metrics_folder_that_is_a_file_fails_with_one_line_instead_of_a_traceback(
    environment: dict[str, str], tmp_path: Path
) -> None:
    taken = tmp_path / "metrics-file"
    taken.write_text("not a folder")
    environment["PROMETHEUS_MULTIPROC_DIR"] = str(taken)
    result = _helmforge(environment, "serve", "--port", str(_free_port()), "--workers", "2")
    assert result.returncode == 1
    assert f"helmforge: error: PROMETHEUS_MULTIPROC_DIR {taken}: File exists" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving on" not in result.stderr
