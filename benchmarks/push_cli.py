"""``helmforge push`` as users run it: whole processes, timed from outside, beside the raw client
and Helm.

One run, one local Debian docker-registry (anonymous, filesystem storage), 100 distinct chart
archives on disk. Each contender is one whole process pushing all of them in one call:

- ``helmforge push A.tgz ... oci://HOST/PATH --plain-http`` (the installed console script);
- the raw client: ``python -m benchmarks.push_cli raw ...`` — read the files, build the same
  artifacts, POST+PUT per blob and PUT the manifest, 4 keep-alive threads, no checks;
- Helm: ``python -m benchmarks.push_cli helm ...`` — helm-sdkpy ``Push`` one after another,
  as ``benchmarks.oci`` does in process.

First pushes go to a fresh registry path each round (``/hf3``, ``/raw3``...); the re-push
sends that round's archives again, unchanged. Through a proxy adding 20 ms per request,
LATENCY_CHARTS archives: helmforge vs Helm. Contenders take turns, ROUNDS rounds, so the
load on the shared machine hits all alike; the medians are quoted, wall and CPU (user +
system of the process, from ``wait4``), the CPU also per archive. ``benchmarks.oci`` (so
``make bench``) runs this on its own registry and prints the in-process ratios beside these;
``python -m benchmarks.push_cli`` runs this alone.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.registry import RegistryServer

REPO = Path(__file__).resolve().parents[1]
HELMFORGE = str(Path(sys.executable).with_name("helmforge"))
CHARTS = 100
LATENCY_CHARTS = 40
LATENCY = 0.020
ROUNDS = 3
GOALS = {"cli_vs_raw": 0.9, "cli_vs_helm": 1.0, "cli_repush_speedup": 5.0, "latency_vs_helm": 4.0}


def _raw_main(authority: str, path: str, files: list[str]) -> None:
    """The floor as a process: same artifacts as helmforge, no checks, no auth, no retries."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from helmforge.core.oci.artifacts import build_artifact

    artifacts = [build_artifact(Path(f).read_bytes()) for f in files]
    base = f"http://{authority}"
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    with httpx.Client(base_url=base, limits=limits, trust_env=False) as client:

        def one(index: int) -> None:
            artifact = artifacts[index]
            repository = f"{path}/{artifact.metadata.name}"
            for digest, data in artifact.blobs:
                started = client.post(f"/v2/{repository}/blobs/uploads/")
                location = httpx.URL(base).join(started.headers["location"])
                client.put(location.copy_merge_params({"digest": digest}), content=data)
            client.put(
                f"/v2/{repository}/manifests/{artifact.tag}",
                content=artifact.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            ).raise_for_status()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(len(artifacts))))


def _helm_main(remote: str, files: list[str]) -> None:
    import helm_sdkpy

    push = helm_sdkpy.Push(helm_sdkpy.Configuration(plain_http=True))
    for file in files:
        asyncio.run(push.run(file, remote, plain_http=True))


def _environment(cache: Path) -> dict[str, str]:
    # Bytecode cached as an installed tool has it (this workplace sets PYTHONDONTWRITEBYTECODE).
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = str(cache)
    environment["PYTHONPATH"] = str(REPO)
    return environment


def _run_once(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one whole process; its output is discarded."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    started = time.perf_counter()
    pid = os.posix_spawn(command[0], command, environment, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command[:3])} ... failed ({status})")
    return wall, usage.ru_utime + usage.ru_stime


def _write_charts(folder: Path, prefix: str, count: int) -> list[str]:
    from tests.support.oci_charts import make_chart

    files = []
    for i in range(count):
        file = folder / f"{prefix}-{i}-1.0.0.tgz"
        file.write_bytes(make_chart(f"{prefix}-{i}", "1.0.0", payload=f"{prefix}{i}"))
        files.append(str(file))
    return files


def _commands(authority: str, files: list[str], tag: str) -> dict[str, list[str]]:
    me = [sys.executable, "-m", "benchmarks.push_cli"]
    return {
        "cli": [HELMFORGE, "push", *files, f"oci://{authority}/hf{tag}", "--plain-http"],
        "raw": [*me, "raw", authority, f"raw{tag}", *files],
        "helm": [*me, "helm", f"oci://{authority}/helm{tag}", *files],
    }


def _median(values: list[float]) -> float:
    return statistics.median(values)


def measure(root: Path, server: RegistryServer) -> dict[str, float | str]:
    """The whole-process figures against ``server`` (a running registry); ``root`` is scratch."""
    from tests.support.registry import FaultProxy

    environment = _environment(root / "pycache")
    files = _write_charts(root, "c", CHARTS)
    # Warm-up: bytecode cache written, registry storage folders made.
    for command in _commands(server.authority, files[:2], "warm").values():
        _run_once(command, environment)
    walls: dict[str, list[float]] = {k: [] for k in ("cli", "raw", "helm", "repush")}
    cpus: dict[str, list[float]] = {k: [] for k in walls}
    for round_number in range(ROUNDS):
        commands = _commands(server.authority, files, str(round_number))
        runs = [*commands.items(), ("repush", commands["cli"])]  # the last: all unchanged
        for name, command in runs:
            wall, cpu = _run_once(command, environment)
            walls[name].append(wall)
            cpus[name].append(cpu)
    slow_walls: dict[str, list[float]] = {"cli": [], "helm": []}
    proxy = FaultProxy(server.port, latency=LATENCY)
    try:
        for round_number in range(ROUNDS):
            slow = _commands(proxy.authority, files[:LATENCY_CHARTS], f"slow{round_number}")
            for name, times in slow_walls.items():
                times.append(_run_once(slow[name], environment)[0])
    finally:
        proxy.close()
    slow_cli, slow_helm = _median(slow_walls["cli"]), _median(slow_walls["helm"])
    figures: dict[str, float | str] = {"charts": CHARTS, "rounds": ROUNDS}
    for name, times in walls.items():
        figures[f"{name}_wall_s"] = round(_median(times), 3)
        figures[f"{name}_cpu_ms_per_archive"] = round(_median(cpus[name]) * 1000 / CHARTS, 2)
    raw, cli, helm = (_median(walls[k]) for k in ("raw", "cli", "helm"))
    figures["cli_vs_raw"] = round(raw / cli, 3)
    figures["cli_vs_raw_paired_median"] = round(
        _median([r / c for r, c in zip(walls["raw"], walls["cli"], strict=True)]), 3
    )
    figures["cli_vs_helm"] = round(helm / cli, 3)
    figures["cli_repush_speedup"] = round(
        _median([f / r for f, r in zip(walls["cli"], walls["repush"], strict=True)]), 3
    )
    figures["latency_charts"] = LATENCY_CHARTS
    figures["latency_cli_wall_s"] = round(slow_cli, 3)
    figures["latency_helm_wall_s"] = round(slow_helm, 3)
    figures["latency_vs_helm"] = round(
        _median([h / c for c, h in zip(slow_walls["cli"], slow_walls["helm"], strict=True)]), 3
    )
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    return figures


def run() -> dict[str, float | str]:
    from tests.support.registry import RegistryServer

    with tempfile.TemporaryDirectory(prefix="helmforge-bench-push-") as scratch:
        root = Path(scratch)
        server = RegistryServer(root / "registry")
        server.root.mkdir()
        server.start()
        try:
            figures = measure(root, server)
        finally:
            server.stop()
    print_figures(figures)
    return figures


def print_figures(figures: dict[str, float | str]) -> None:
    print(
        f"helmforge push as whole processes ({CHARTS} archives per call, medians of "
        f"{ROUNDS} rounds, load average {figures['load_average_1min']})"
    )
    print(f"  {'figure':<34} {'value':>10}  goal")
    for name, value in figures.items():
        goal = f">= {GOALS[name]:g}" if name in GOALS else ""
        shown = f"{value:10.3f}" if isinstance(value, float) else f"{value!s:>10}"
        print(f"  {name:<34} {shown}  {goal}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "raw":
        _raw_main(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) > 1 and sys.argv[1] == "helm":
        _helm_main(sys.argv[2], sys.argv[3:])
    else:
        run()
