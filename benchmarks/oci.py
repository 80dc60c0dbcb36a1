"""OCI publishing throughput: helmforge vs a minimal raw client vs Helm's own push.

One run, one local Debian docker-registry (anonymous, filesystem storage):

- loopback, 100 distinct charts: raw client (keep-alive, 4 threads, no checks), helmforge
  (``publish_archives``, 4 push workers plus 2 threads checking tags ahead) and Helm
  (helm-sdkpy ``Push``, one after another);
- re-push of the same 100 through helmforge: no blob may be uploaded;
- through a proxy adding 20 ms per request, 40 charts: helmforge (8 workers) vs Helm;
- then the same as users run it (``benchmarks.push_cli``): whole ``helmforge push`` processes
  of 100 archives beside a raw-client process and a Helm process, the ratios printed beside
  the in-process ones, with the CPU time per archive.

Goals: helmforge >= 0.9x raw, faster than Helm; >= 4x Helm through latency; re-push >= 5x
faster than the first push.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import helm_sdkpy
import httpx
from tests.support.oci_charts import make_chart
from tests.support.registry import Fault, FaultProxy, RegistryServer

from benchmarks import push_cli
from helmforge.adapters.oci import RegistryClient
from helmforge.core.access.principals import local_operator
from helmforge.core.oci.artifacts import ChartArtifact, build_artifact
from helmforge.core.oci.references import Registry
from helmforge.services.publishing import ChartArchive, publish_archives

OPERATOR = local_operator("ci")

CHARTS = 100
LATENCY_CHARTS = 40
LATENCY = 0.020
ROUNDS = 5
KILLS = 50


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Helm's push prints from Go straight to fd 1: silence it during the timing."""
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _raw_push(authority: str, path: str, artifacts: list[ChartArtifact], threads: int) -> None:
    """The floor: POST+PUT per blob and PUT manifest, keep-alive, no checks, no auth."""
    base = f"http://{authority}"
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=base, limits=limits, trust_env=False) as client:

        def one(artifact: ChartArtifact) -> None:
            repository = f"{path}/{artifact.metadata.name}"
            for digest, data in artifact.blobs:
                started = client.post(f"/v2/{repository}/blobs/uploads/")
                location = httpx.URL(base).join(started.headers["location"])
                client.put(location.copy_merge_params({"digest": digest}), content=data)
            client.put(
                f"/v2/{repository}/manifests/{artifact.tag}",
                content=artifact.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, artifacts))


def _helm_push(files: list[Path], remote: str) -> None:
    push = helm_sdkpy.Push(helm_sdkpy.Configuration(plain_http=True))
    with _quiet_stdout():
        for file in files:
            asyncio.run(push.run(str(file), remote, plain_http=True))


def _charts(folder: Path, prefix: str, count: int) -> tuple[list[ChartArchive], list[Path]]:
    archives, files = [], []
    for i in range(count):
        content = make_chart(f"{prefix}-{i}", "1.0.0", payload=f"{prefix}{i}")
        file = folder / f"{prefix}-{i}-1.0.0.tgz"
        file.write_bytes(content)
        archives.append(ChartArchive(str(file), content))
        files.append(file)
    return archives, files


def run() -> dict[str, float | str]:
    with tempfile.TemporaryDirectory(prefix="helmforge-bench-oci-") as scratch:
        root = Path(scratch)
        server = RegistryServer(root / "registry")
        server.root.mkdir()
        server.start()
        try:
            figures = _measure(root, server)
            (root / "cli").mkdir()
            whole = push_cli.measure(root / "cli", server)
        finally:
            server.stop()
        crash_root = root / "crashes"
        crash_root.mkdir()
        crashed = RegistryServer(crash_root / "registry")
        crashed.root.mkdir()
        crashed.start()
        try:
            figures.update(_kill_loop(crash_root, crashed))
        finally:
            crashed.stop()
    _print(figures)
    push_cli.print_figures(whole)
    _print_side_by_side(figures, whole)
    figures.update({f"cli_{k}": v for k, v in whole.items()})
    return figures


def _kill_loop(root: Path, server: RegistryServer) -> dict[str, float | str]:
    """Kill the registry during a blob upload KILLS times (restart 0.3 s later); check tags."""
    proxy = FaultProxy(server.port)
    archives, _ = _charts(root, "crash", KILLS)
    registry = Registry(f"oci://{proxy.authority}/crash", plain_http=True)
    durations: list[float] = []
    failed = incomplete = 0

    def crash() -> None:
        server.kill()
        threading.Timer(0.3, server.start).start()

    try:
        with RegistryClient(registry) as client:
            for archive in archives:
                proxy.add(Fault("PUT", r"/blobs/uploads/", "hook", hook=crash))
                started = time.perf_counter()
                (result,) = publish_archives([archive], registry, client=client, actor=OPERATOR)
                durations.append(time.perf_counter() - started)
                if result.error is not None:
                    failed += 1
                    continue
                manifest = client.get_manifest(result.repository, result.tag)
                layer = client.get_blob(result.repository, result.layer_digest)
                if (
                    manifest is None
                    or manifest.digest != result.manifest_digest
                    or layer != archive.content
                ):
                    incomplete += 1
            retries = client.stats["connection_errors"]
    finally:
        proxy.close()
    storage = server.root / "storage" / "docker" / "registry" / "v2" / "repositories"
    # A cancelled session keeps an empty hashstates folder (registry behaviour, seen on 2.8.2);
    # a live orphan still has its startedat file.
    orphans = sum(1 for path in storage.glob("**/_uploads/*/startedat"))
    durations.sort()
    return {
        "kills_during_upload": KILLS,
        "kills_push_failed": failed,
        "kills_tags_incomplete": incomplete,
        "kills_orphan_uploads": orphans,
        "kills_connection_retries": retries,
        "kills_recovery_p50_s": durations[len(durations) // 2],
        "kills_recovery_max_s": durations[-1],
    }


def _raw_round(root: Path, authority: str, prefix: str) -> float:
    archives, _ = _charts(root, prefix, CHARTS)
    artifacts = [build_artifact(a.content) for a in archives]
    return _timed(lambda: _raw_push(authority, "raw", artifacts, threads=4))


def _helmforge_round(root: Path, authority: str, prefix: str) -> tuple[float, float, int, int]:
    """First push and re-push of 100 fresh charts: times and blobs uploaded by each."""
    archives, _ = _charts(root, prefix, CHARTS)
    registry = Registry(f"oci://{authority}/hf", plain_http=True)
    with RegistryClient(registry, max_connections=4 + 2) as client:  # 4 push + 2 tag-check
        first = _timed(
            lambda: publish_archives(archives, registry, client=client, workers=4, actor=OPERATOR)
        )
        uploaded_first = client.stats["blobs_uploaded"]
        again = _timed(
            lambda: publish_archives(archives, registry, client=client, workers=4, actor=OPERATOR)
        )
        return first, again, uploaded_first, client.stats["blobs_uploaded"] - uploaded_first


def _measure(root: Path, server: RegistryServer) -> dict[str, float | str]:
    authority = server.authority
    # The machine is shared: alternate raw and helmforge rounds on fresh charts, keep the best.
    raw_times, rounds = [], []
    for round_number in range(ROUNDS):
        raw_times.append(_raw_round(root, authority, f"raw{round_number}"))
        rounds.append(_helmforge_round(root, authority, f"hf{round_number}"))
    first_times = [r[0] for r in rounds]
    _, again, uploaded_first, uploaded_again = rounds[-1]
    _, files = _charts(root, "helm", CHARTS)
    raw, first = min(raw_times), min(first_times)
    helm = _timed(lambda: _helm_push(files, f"oci://{authority}/helm"))

    slow_archives, slow_files = _charts(root, "slow", LATENCY_CHARTS)
    proxy = FaultProxy(server.port, latency=LATENCY)
    try:
        slow_registry = Registry(f"oci://{proxy.authority}/hf", plain_http=True)
        with RegistryClient(slow_registry, max_connections=8 + 4) as client:
            slow_hf = _timed(
                lambda: publish_archives(
                    slow_archives, slow_registry, client=client, workers=8, actor=OPERATOR
                )
            )
        slow_helm = _timed(lambda: _helm_push(slow_files, f"oci://{proxy.authority}/helm"))
    finally:
        proxy.close()

    figures: dict[str, float | str] = {
        "loopback_charts": CHARTS,
        "rounds_best_of": ROUNDS,
        "raw_charts_per_s": CHARTS / raw,
        "helmforge_charts_per_s": CHARTS / first,
        "helm_charts_per_s": CHARTS / helm,
        "helmforge_vs_raw": raw / first,
        "helmforge_vs_raw_paired_median": statistics.median(
            r / f for r, f in zip(raw_times, first_times, strict=True)
        ),
        "helmforge_vs_helm": helm / first,
        "repush_charts_per_s": CHARTS / again,
        "repush_speedup": first_times[-1] / again,
        "repush_blobs_uploaded": uploaded_again,
        "first_push_blobs_uploaded": uploaded_first,
        "latency_ms": LATENCY * 1000,
        "latency_charts": LATENCY_CHARTS,
        "latency_helmforge_charts_per_s": LATENCY_CHARTS / slow_hf,
        "latency_helm_charts_per_s": LATENCY_CHARTS / slow_helm,
        "latency_helmforge_vs_helm": slow_helm / slow_hf,
    }
    return figures


def _print(figures: dict[str, float | str]) -> None:
    goals = {
        "helmforge_vs_raw": ">= 0.9",
        "helmforge_vs_raw_paired_median": ">= 0.9",
        "helmforge_vs_helm": "> 1",
        "repush_speedup": ">= 5",
        "repush_blobs_uploaded": "== 0",
        "latency_helmforge_vs_helm": ">= 4",
        "kills_push_failed": "== 0",
        "kills_tags_incomplete": "== 0",
    }
    print("OCI publishing (Debian docker-registry on loopback)")
    print(f"{'figure':<34} {'value':>10}  goal")
    for name, value in figures.items():
        shown = f"{value:10.2f}" if isinstance(value, float) else f"{value!s:>10}"
        print(f"{name:<34} {shown}  {goals.get(name, '')}")


def _print_side_by_side(figures: dict[str, float | str], whole: dict[str, float | str]) -> None:
    """The same ratios measured in process and as users run ``helmforge push``."""
    rows = (
        ("vs raw client (rate ratio)", "helmforge_vs_raw", "cli_vs_raw", ">= 0.9"),
        ("vs Helm", "helmforge_vs_helm", "cli_vs_helm", "> 1"),
        ("re-push speed-up", "repush_speedup", "cli_repush_speedup", ">= 5"),
        ("vs Helm through 20 ms", "latency_helmforge_vs_helm", "latency_vs_helm", ">= 4"),
    )
    print(f"push ratios side by side (load average {whole['load_average_1min']})")
    print(f"  {'ratio':<28} {'in process':>10} {'whole CLI':>10}  goal")
    for label, inside, outside, goal in rows:
        print(f"  {label:<28} {figures[inside]:>10.2f} {whole[outside]:>10.2f}  {goal}")
    print(
        f"  CPU ms per archive (whole process): helmforge {whole['cli_cpu_ms_per_archive']}, "
        f"re-push {whole['repush_cpu_ms_per_archive']}, raw {whole['raw_cpu_ms_per_archive']}, "
        f"Helm {whole['helm_cpu_ms_per_archive']}"
    )


if __name__ == "__main__":
    run()
