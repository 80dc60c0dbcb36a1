"""Fleet generation: 400 charts, template to .tgz in one helmforge process, vs Helm's package.

One run, side by side:

- helmforge: the whole process ``helmforge generate T --contexts C --out D --package`` for a
  10-resource template and 2 customers x 4 environments x 50 instances (400 charts), wall time
  and peak memory (the process tree's summed PSS, sampled every 5 ms; and the largest single
  process's peak RSS from ``wait4``, run through a small launcher so that this process's own
  memory is not counted);
- Helm: its package step alone (helm-sdkpy ``Package``, in this process, library already
  loaded) for the same 400 charts from folders helmforge wrote beforehand.

Fleet and Helm figures are medians of 3 runs. helmforge runs with its bytecode cached, as an
installed tool has it (see ``_cli_environment``). The machine should be otherwise idle: the
fleet uses two processes and suffers more from other load than Helm's single thread does.

Goals: ratio helmforge / Helm <= 1.0; peak RSS <= 200 MB. (One chart from a cold process is
``benchmarks.startup``.)
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from helmforge.adapters.helm import helm_package

REPO = Path(__file__).resolve().parents[1]
HELMFORGE = Path(sys.executable).with_name("helmforge")
EXAMPLE = REPO / "examples" / "templates" / "web-service.yaml"
CUSTOMERS = ("acme", "globex")
ENVIRONMENTS = ("dev", "test", "uat", "prod")
INSTANCES = 50
RUNS = 3

# Three more resources on top of the bundled example's seven: a 10-resource template.
EXTRA_RESOURCES = """\
    - id: networkpolicy
      manifest:
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: ${ctx.name}
        spec:
          podSelector:
            matchLabels:
              app: ${ctx.name}
          policyTypes: [Ingress]
          ingress:
            - ports:
                - port: ${values.containerPort}
    - id: role
      manifest:
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata:
          name: ${ctx.name}
        rules:
          - apiGroups: [""]
            resources: [configmaps]
            verbs: [get, list, watch]
    - id: rolebinding
      manifest:
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata:
          name: ${ctx.name}
        roleRef:
          apiGroup: rbac.authorization.k8s.io
          kind: Role
          name: ${ctx.name}
        subjects:
          - kind: ServiceAccount
            name: ${ctx.name}
"""


def _write_inputs(folder: Path) -> tuple[Path, Path]:
    template = folder / "fleet-service.yaml"
    template.write_text(EXAMPLE.read_text().rstrip("\n") + "\n" + EXTRA_RESOURCES)
    instances = ", ".join(f'"i{number:02d}"' for number in range(INSTANCES))
    contexts = folder / "contexts.yaml"
    contexts.write_text(
        "matrix:\n"
        "  product: [shop]\n"
        f"  customer: [{', '.join(CUSTOMERS)}]\n"
        f"  environment: [{', '.join(ENVIRONMENTS)}]\n"
        f"  instance: [{instances}]\n"
        '  version: ["2.4.1"]\n'
    )
    return template, contexts


def _tree_memory(pid: int) -> int:
    """Summed proportional set size (PSS, so pages that forked workers share with their parent
    count once) in bytes of the descendants of ``pid`` (Linux /proc), ``pid`` excluded."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text() if current != pid else ""
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
        pending.extend(int(child) for child in children)
    return total


def _cli_environment(cache: Path) -> dict[str, str]:
    """The environment of every helmforge process measured: bytecode cached as in a normal
    install (this workplace sets PYTHONDONTWRITEBYTECODE, which would recompile helmforge's
    own modules on every start), in a folder of its own rather than in the source tree."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = str(cache)
    return environment


# A small launcher runs the measured command: a child forked from this (large) benchmark
# process would count this process's memory in its peak RSS until it execs.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - started
with open(sys.argv[1], "w") as report:
    report.write(f"{elapsed} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_measured(
    command: list[str], *, environment: dict[str, str]
) -> tuple[float, int, str, float, int]:
    """Run ``command``; return wall seconds, peak summed RSS of its process tree, stderr, CPU
    seconds of the tree, and the peak RSS of its largest single process."""
    peak = 0
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report"
        errors_path = Path(scratch) / "stderr"
        with errors_path.open("wb") as errors:
            process = subprocess.Popen(
                [sys.executable, "-S", "-c", LAUNCHER, str(report), *command],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=environment,
            )
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, _tree_memory(process.pid))
                    done.wait(0.005)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            process.wait()
            done.set()
            sampler.join()
        stderr = errors_path.read_text()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {stderr}")
        elapsed, cpu, maxrss_kb = report.read_text().split()
    return float(elapsed), peak, stderr.strip(), float(cpu), int(maxrss_kb) * 1024


def _helm_package_all(folders: list[Path], out: Path) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of this process) of Helm packaging every folder."""
    helm_package(folders[0], out_dir=out)  # load the Go library before timing
    cpu_before = _self_cpu()
    started = time.perf_counter()
    for folder in folders:
        helm_package(folder, out_dir=out)
    return time.perf_counter() - started, _self_cpu() - cpu_before


def run() -> dict[str, float | str]:
    """Measure the fleet against Helm's package step; print a table; return the figures."""
    with tempfile.TemporaryDirectory(prefix="helmforge-bench-") as raw:
        work = Path(raw)
        template, contexts = _write_inputs(work)
        fleet = [str(HELMFORGE), "generate", str(template), "--contexts", str(contexts)]
        environment = _cli_environment(work / "pycache")
        # Also the warm-up that writes the bytecode cache.
        subprocess.run(
            [*fleet, "--out", str(work / "folders")],
            check=True,
            capture_output=True,
            env=environment,
        )
        folders = sorted(path for path in (work / "folders").iterdir() if path.is_dir())
        # helmforge and Helm take turns, so that other load on the machine hits both alike.
        runs, helm_runs = [], []
        for attempt in range(RUNS):
            runs.append(
                _run_measured(
                    [*fleet, "--out", str(work / f"tgz{attempt}"), "--package"],
                    environment=environment,
                )
            )
            (work / f"helm{attempt}").mkdir()
            helm_runs.append(_helm_package_all(folders, work / f"helm{attempt}"))
        seconds = statistics.median(run[0] for run in runs)
        peak_tree = max(run[1] for run in runs)
        summary = runs[-1][2]
        cpu = statistics.median(run[3] for run in runs)
        peak_single = max(run[4] for run in runs)
        charts = len(list((work / "tgz0").glob("*.tgz")))
        helm_seconds = statistics.median(run[0] for run in helm_runs)
        helm_cpu = statistics.median(run[1] for run in helm_runs)
    ratio = seconds / helm_seconds
    figures: dict[str, float | str] = {
        "charts": float(charts),
        "helmforge_fleet_seconds": round(seconds, 3),
        "helm_package_seconds": round(helm_seconds, 3),
        "ratio": round(ratio, 3),
        "helmforge_fleet_cpu_seconds": round(cpu, 3),
        "helm_package_cpu_seconds": round(helm_cpu, 3),
        "peak_pss_tree_mb": round(peak_tree / 2**20, 1),
        "peak_rss_largest_process_mb": round(peak_single / 2**20, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "helmforge_summary": summary.splitlines()[-1] if summary else "",
    }
    rows = [
        ("fleet: 400 charts, template -> .tgz (whole process)", f"{seconds:.3f} s", ""),
        ("Helm package alone, same 400 charts from folders", f"{helm_seconds:.3f} s", ""),
        ("ratio helmforge / Helm", f"{ratio:.2f}", "<= 1.0"),
        ("  CPU time: helmforge (all processes)", f"{cpu:.3f} s", ""),
        ("  CPU time: Helm package (all threads)", f"{helm_cpu:.3f} s", ""),
        ("peak memory (PSS) of the whole process tree", f"{peak_tree / 2**20:.1f} MB", "<= 200 MB"),
        ("peak RSS, largest single process", f"{peak_single / 2**20:.1f} MB", ""),
    ]
    print(
        f"fleet benchmark ({charts} charts; medians of {RUNS} runs; last: "
        f"{figures['helmforge_summary']}; load average {figures['load_average_1min']})"
    )
    width = max(len(row[0]) for row in rows)
    print(f"  {'measure':<{width}}  {'value':>10}  goal")
    for name, value, goal in rows:
        print(f"  {name:<{width}}  {value:>10}  {goal}")
    return figures


if __name__ == "__main__":
    run()
