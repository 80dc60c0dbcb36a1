"""A rollout (DESIGN §10) of one wave over INSTANCES instances of one GitOps repository, its
instances upgraded one after another (``max_parallel`` 1, the default) and then eight at once.

The fleet (``benchmarks.fleet_lab``): INSTANCES instances of ``web-service@1.2.0`` stored as
helmforge stores them, in a fresh PostgreSQL database on 127.0.0.1:5432 (dropped after), one
GitOps repository behind ``git http-backend`` and Debian's docker-registry. Version 1.3.0 is
published through the API. Two rollouts of it, one wave naming every instance, each run to its
end in this process as a worker runs it (``jobs.execute_here``): first with ``max_parallel`` 1
to app version 3.5.0, then with ``max_parallel`` 8 to app version 3.6.0, so that each run
builds, publishes and commits a new chart for every instance. Each upgrade is one commit;
with eight at once, the commits of upgrades that meet in the repository's group commit share a
push. Reported per run: the job's wall time, the commits and the pushes the Git server
received, and every instance ``upgraded``; then the speed-up (the first run's wall time over
the second's) and the machine's load average. The second run has the warmer caches (the Git
cache is fetched by then, the template parsed): its figure is an upper bound of the speed-up.

``HELMFORGE_BENCH_QUICK=1`` runs 10 instances.

Figures (20 instances, 2 cores shared with other work, load average 6.8, one run):
``max_parallel`` 1: 7.66 s, 20 commits in 20 pushes; ``max_parallel`` 8: 2.51 s, 20 commits
in 9 pushes (groups of 1 to 4 commits); speed-up 3.06, every instance upgraded in both.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.fleet_lab import fleet_lab, print_figures, publish
from benchmarks.server import EXAMPLE

if TYPE_CHECKING:
    from benchmarks.fleet_lab import FleetLab

QUICK = os.environ.get("HELMFORGE_BENCH_QUICK") == "1"
INSTANCES = 10 if QUICK else 20
RUNS = ((1, "3.5.0"), (8, "3.6.0"))


def _next_version() -> str:
    """web-service 1.3.0: 1.2.0 with another default port."""
    return (
        EXAMPLE.read_text(encoding="utf-8")
        .replace("version: 1.2.0", "version: 1.3.0", 1)
        .replace("default: 8080", "default: 8081", 1)
    )


def _roll_out(lab: FleetLab, max_parallel: int, version: str) -> dict[str, Any]:
    """One rollout of every instance to web-service 1.3.0 at app ``version``, run here: its
    seconds, commits, pushes and the states its instances ended in."""
    from helmforge.server.app import state_of
    from helmforge.services import jobs
    from helmforge.services.jobs import JobResources

    plan = {
        "template": "web-service@1.3.0",
        "version": version,
        "waves": [{"name": "all", "filter": {}, "max_parallel": max_parallel}],
    }
    response = lab.api.client.post("/api/v1/fleet/rollouts", json=plan)
    assert response.status_code == 202, response.text
    started_rollout = response.json()
    resources = JobResources(workspace=state_of(lab.api.app).git_workspace)
    commits, pushes = lab.git.commits(), len(lab.git.server.received)
    started = time.perf_counter()
    jobs.execute_here(lab.api.sessions, started_rollout["job"], resources=resources, owner="bench")
    seconds = time.perf_counter() - started
    rollout = lab.api.client.get(f"/api/v1/fleet/rollouts/{started_rollout['rollout']}").json()
    assert rollout["state"] == "succeeded", rollout
    upgraded = [entry["state"] for entry in rollout["waves"][0]["instances"]]
    return {
        "seconds": seconds,
        "commits": lab.git.commits() - commits,
        "pushes": len(lab.git.server.received) - pushes,
        "upgraded": upgraded.count("upgraded"),
    }


def run() -> dict[str, float | str]:
    figures: dict[str, float | str] = {"instances": float(INSTANCES)}
    prefix = "helmforge-bench-rollout-waves-"
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as scratch,
        fleet_lab(Path(scratch), INSTANCES) as lab,
    ):
        figures["seed_s"] = lab.seed_seconds
        publish(lab.api, _next_version(), "1.3.0")
        for max_parallel, version in RUNS:
            measured = _roll_out(lab, max_parallel, version)
            for key, value in measured.items():
                figures[f"parallel_{max_parallel}_{key}"] = float(value)
    first, second = (f"parallel_{parallel}_seconds" for parallel, _ in RUNS)
    figures["speedup"] = float(figures[first]) / float(figures[second])
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    print_figures(
        f"rollout of one wave over {INSTANCES} instances of one repository, max_parallel "
        + " vs ".join(str(parallel) for parallel, _ in RUNS)
        + (" (HELMFORGE_BENCH_QUICK)" if QUICK else ""),
        figures,
    )
    return figures


if __name__ == "__main__":
    run()
