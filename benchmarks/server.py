"""The server under load: 32 concurrent API clients building charts for distinct contexts.

One run, side by side:

- server: ``helmforge serve`` in a subprocess on PostgreSQL (a fresh database on
  127.0.0.1:5432); 32 asyncio clients each POST /api/v1/charts for their own contexts (every
  build is rendered, packed, stored with its archive and audited). Throughput, p50/p99 latency,
  and the server's peak RSS (VmHWM);
- in-process engine: the same builds (render_chart + pack_chart) in this process, one after the
  other: throughput and p50/p99 per build.

The server runs twice: as one process, and with one worker process per core (``helmforge serve
--workers N``, how it is deployed on a multi-core machine; HELMFORGE_BENCH_WORKERS sets N). The
goals are judged on the second. Memory is the peak resident set (VmHWM) summed over every
process of the server: the supervisor and its workers. The
CPU time per build of the server, this client and PostgreSQL is reported too: on a busy
machine it tells whether the server or the machine was the limit.

The API overhead ratio is server p50 latency / in-process p50, and in-process throughput /
server throughput. Goals: p99 <= 250 ms, server RSS <= 300 MB.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
HELMFORGE = Path(sys.executable).with_name("helmforge")
EXAMPLE = REPO / "examples" / "templates" / "web-service.yaml"
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
CLIENTS = 32
BUILDS_PER_CLIENT = 20
WARMUP = 32


def _contexts(count: int, *, offset: int = 0) -> list[dict[str, str]]:
    environments = ("dev", "test", "uat", "prod")
    return [
        {
            "product": "ledger",
            "customer": f"c{(offset + i) // 4:04d}",
            "environment": environments[(offset + i) % 4],
            "instance": "a1",
            "version": "3.4.0",
        }
        for i in range(count)
    ]


@contextmanager
def _database() -> Iterator[str]:
    name = f"helmforge_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _server(
    url: str, data_dir: Path, *, workers: int
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    environment = {
        **os.environ,
        "HELMFORGE_DATABASE_URL": url,
        "HELMFORGE_DATA_DIR": str(data_dir),
        "HELMFORGE_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [
            str(HELMFORGE),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=(data_dir / f"server-{workers}.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("helmforge serve did not start")
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _token(url: str) -> str:
    from helmforge.adapters.storage.database import create_database_engine, session_factory
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    engine = create_database_engine(url)
    try:
        return accounts.create_token(session_factory(engine), user="admin", actor=SYSTEM).token
    finally:
        engine.dispose()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _postgres_cpu_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                total += _cpu_seconds(int(entry.name))
        except OSError:
            continue  # the process ended meanwhile
    return total


def _process_tree(pid: int) -> list[int]:
    tree = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            tree.extend(_process_tree(int(child)))
    return tree


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of the server, summed over its worker processes."""
    total = 0
    for member in _process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


async def _post_json(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, bytes]:
    """One POST on a kept-alive HTTP/1.1 connection; returns status and body."""
    writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    status_line, _, header_block = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
    length = None
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"answer without Content-Length: {status_line.decode()}")
    return int(status_line.split()[1]), await reader.readexactly(length)


async def _drive(base: str, token: str, work: list[list[dict[str, str]]]) -> list[float]:
    """Each list of contexts is one client on its own kept-alive connection, building its
    charts one after the other. The load generator is a few lines of asyncio streams rather
    than an HTTP library: on this 2-core machine every millisecond of client CPU is taken
    from the server under test (httpx cost about 3 ms per request)."""
    host, port = base.removeprefix("http://").split(":")
    head = (
        f"POST /api/v1/charts HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    ).encode()
    latencies: list[float] = []

    async def one_client(contexts: list[dict[str, str]]) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for context in contexts:
                body = json.dumps({"template": "web-service@1.2.0", "context": context}).encode()
                started = time.perf_counter()
                status, answer = await _post_json(reader, writer, head, body)
                latencies.append(time.perf_counter() - started)
                if status != 201:
                    raise RuntimeError(f"build failed: {status} {answer.decode()}")
        finally:
            writer.close()

    await asyncio.gather(*(one_client(contexts) for contexts in work))
    return latencies


def _in_process(contexts: list[dict[str, str]]) -> tuple[float, list[float]]:
    from helmforge import __version__
    from helmforge.adapters.archives import pack_chart
    from helmforge.adapters.kubernetes_schemas import load_schema_set
    from helmforge.core.charts.rendering import render_chart
    from helmforge.core.contexts import parse_context
    from helmforge.core.templates.parsing import parse_template

    template = parse_template(EXAMPLE.read_bytes(), source=str(EXAMPLE))
    schemas = load_schema_set(template.kubernetes_version)

    def build(raw: dict[str, str]) -> None:
        chart = render_chart(
            template,
            parse_context(raw),
            schemas=schemas,
            overrides={},
            chart_version=None,
            generator_version=__version__,
        )
        pack_chart(chart.name, chart.files)

    for raw in _contexts(WARMUP, offset=100_000):
        build(raw)
    latencies = []
    started = time.perf_counter()
    for raw in contexts:
        one = time.perf_counter()
        build(raw)
        latencies.append(time.perf_counter() - one)
    return time.perf_counter() - started, latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _serve_builds(url: str, scratch: Path, *, workers: int) -> dict[str, float]:
    """The timed run against ``helmforge serve --workers N``: figures of the server side."""
    total = CLIENTS * BUILDS_PER_CLIENT
    contexts = _contexts(total, offset=workers * 10_000)
    work = [contexts[i::CLIENTS] for i in range(CLIENTS)]
    with _server(url, scratch, workers=workers) as (base, process):
        token = _token(url)
        # Warm every pooled connection (psycopg prepares a statement at its 5th execution).
        warm = [_contexts(5, offset=200_000 + workers * 1000 + 5 * i) for i in range(CLIENTS)]
        asyncio.run(_drive(base, token, warm))
        server_cpu = sum(_cpu_seconds(member) for member in _process_tree(process.pid))
        client_cpu = time.process_time()
        database_cpu = _postgres_cpu_seconds()
        started = time.perf_counter()
        latencies = asyncio.run(_drive(base, token, work))
        seconds = time.perf_counter() - started
        server_cpu = sum(_cpu_seconds(m) for m in _process_tree(process.pid)) - server_cpu
        client_cpu = time.process_time() - client_cpu
        database_cpu = _postgres_cpu_seconds() - database_cpu
        rss = _peak_rss_mb(process.pid)
    return {
        "throughput_per_s": total / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "peak_rss_mb": rss,
        "cpu_ms_per_build": server_cpu / total * 1000,
        "client_cpu_ms_per_build": client_cpu / total * 1000,
        "postgres_cpu_ms_per_build": database_cpu / total * 1000,
    }


def run() -> dict[str, float | str]:
    total = CLIENTS * BUILDS_PER_CLIENT
    workers = int(os.environ.get("HELMFORGE_BENCH_WORKERS", os.cpu_count() or 1))
    scratch = Path(tempfile.mkdtemp(prefix="helmforge-bench-server-"))
    with _database() as url:
        single = _serve_builds(url, scratch, workers=1)
        multi = _serve_builds(url, scratch, workers=workers) if workers > 1 else single
    shutil.rmtree(scratch, ignore_errors=True)
    local_seconds, local = _in_process(_contexts(total))
    figures: dict[str, float | str] = {
        "builds": float(total),
        "clients": float(CLIENTS),
        "server_workers": float(workers),
    }
    figures.update({f"server_{key}": value for key, value in multi.items()})
    figures.update({f"one_process_{key}": value for key, value in single.items()})
    figures.update(
        {
            "in_process_throughput_per_s": total / local_seconds,
            "in_process_p50_ms": statistics.median(local) * 1000,
            "in_process_p99_ms": _percentile(local, 0.99) * 1000,
        }
    )
    figures["api_overhead_latency_ratio"] = float(figures["server_p50_ms"]) / float(
        figures["in_process_p50_ms"]
    )
    figures["api_overhead_throughput_ratio"] = float(
        figures["in_process_throughput_per_s"]
    ) / float(figures["server_throughput_per_s"])
    figures["goal_p99_le_250ms"] = "met" if float(figures["server_p99_ms"]) <= 250 else "missed"
    figures["goal_rss_le_300mb"] = (
        "met" if float(figures["server_peak_rss_mb"]) <= 300 else "missed"
    )
    print(
        f"server benchmark: {total} builds, {CLIENTS} concurrent clients, PostgreSQL; "
        f"server_* with {workers} worker processes, one_process_* with one"
    )
    for key, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"  {key:36} {shown}")
    return figures


if __name__ == "__main__":
    run()
