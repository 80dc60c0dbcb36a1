"""Fleet verification (DESIGN §10) of INSTANCES instances against a real registry, beside the
manifest loop a user would script instead.

The fleet (``benchmarks.fleet_lab``): INSTANCES instances stored as helmforge stores them, in a
fresh PostgreSQL database on 127.0.0.1:5432 (dropped after), a GitOps repository behind ``git
http-backend`` and Debian's docker-registry, every registry request going through a counting
proxy. One run, side by side:

- helmforge: ``POST /api/v1/fleet/verify`` (the whole fleet), the ``fleet.verify`` job run to
  its end in this process as a worker runs it (``jobs.execute_here``): for each instance the
  recorded build rendered again and its digest compared, the manifest served under the chart
  version's tag read, application.yaml and values.yaml read from Git (one fetch). Reported:
  wall time, every instance ``ok``, the registry requests the proxy saw: manifest GETs and
  HEADs, blob GETs and HEADs, anything else, and the SQL statements the job ran (all, and the
  SELECTs of build records: one per batch of 100 instances). Goal: one manifest request per
  instance, no blob;
- the loop: one ``GET /v2/<repository>/manifests/<tag>`` per instance with httpx on one
  kept-alive connection (the chart layer's digest compared with the recorded build's), the
  registry part of what a user scripting a check would run. Ratio: helmforge's wall time over
  the loop's; helmforge does the whole verification (rebuild, Git), the loop only the reads.

``HELMFORGE_BENCH_QUICK=1`` runs 100 instances.

Goals and figures (1,000 instances, 2 cores shared with other work, load average 14):
one manifest request per instance and no blob: met, 1,000 manifest GETs, 0 HEADs, 0 blob
requests, nothing else; every instance ok. helmforge 26.6 s (27 ms an instance), the loop
5.4 s (5 ms a GET): ratio 4.9, the difference being the rest of the verification (each chart
rendered and packed again, the Git reads, the build records), which the loop does not do.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa

from benchmarks.fleet_lab import fleet_lab, print_figures

if TYPE_CHECKING:
    from benchmarks.fleet_lab import FleetLab

QUICK = os.environ.get("HELMFORGE_BENCH_QUICK") == "1"
INSTANCES = 100 if QUICK else 1000
_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def _verify(lab: FleetLab) -> tuple[float, dict[str, object], dict[str, int]]:
    """The verification job of the whole fleet, run here; its seconds, its result and the
    SQL statements it ran (all of them, and the SELECTs of build records)."""
    from helmforge.adapters.storage.database import engine_of
    from helmforge.server.app import state_of
    from helmforge.services import jobs
    from helmforge.services.jobs import JobResources

    response = lab.api.client.post("/api/v1/fleet/verify", json={})
    assert response.status_code == 202, response.text
    job_id = response.json()["job"]
    resources = JobResources(workspace=state_of(lab.api.app).git_workspace)
    statements: list[str] = []

    def executed(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engine = engine_of(lab.api.sessions)
    sa.event.listen(engine, "before_cursor_execute", executed)
    started = time.perf_counter()
    try:
        jobs.execute_here(lab.api.sessions, job_id, resources=resources, owner="bench")
    finally:
        seconds = time.perf_counter() - started
        sa.event.remove(engine, "before_cursor_execute", executed)
    job = lab.api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert job["state"] == "succeeded", job
    counts = {
        "sql_statements": len(statements),
        "sql_build_selects": sum(
            1
            for statement in statements
            if statement.lstrip().upper().startswith("SELECT") and "FROM chart_builds" in statement
        ),
    }
    return seconds, dict(job["result"]), counts


def _manifest_loop(lab: FleetLab) -> tuple[float, int]:
    """One manifest GET per instance, the layer digest compared with the recorded build's;
    the seconds and how many matched."""
    from helmforge.adapters.storage.instances_tables import InstanceRow
    from helmforge.adapters.storage.server_tables import ChartBuildRow
    from helmforge.core.oci.chart_versions import tag_for_version
    from helmforge.core.oci.references import parse_reference, repository_for

    reference = parse_reference(lab.registry_url)
    with lab.api.sessions() as session:
        rows = session.execute(
            sa.select(InstanceRow.chart_name, InstanceRow.chart_version, ChartBuildRow.digest).join(
                ChartBuildRow, ChartBuildRow.id == InstanceRow.build_id
            )
        ).all()
    base = f"http://{reference.authority}/v2/"
    matched = 0
    with httpx.Client(headers={"Accept": _ACCEPT}) as client:
        started = time.perf_counter()
        for chart, version, digest in rows:
            path = f"{repository_for(reference, chart)}/manifests/{tag_for_version(version)}"
            answer = client.get(base + path)
            answer.raise_for_status()
            layers = answer.json().get("layers") or []
            matched += any(layer.get("digest") == digest for layer in layers)
        seconds = time.perf_counter() - started
    return seconds, matched


def _measure(lab: FleetLab, figures: dict[str, float | str]) -> None:
    since = len(lab.proxy.requests)
    seconds, result, statements = _verify(lab)
    counts = lab.registry_requests(since)
    for kind, count in statements.items():
        figures[f"helmforge_{kind}"] = float(count)
    figures["helmforge_s"] = seconds
    figures["helmforge_ok"] = float(str(result["ok"]))
    figures["helmforge_drifted"] = float(str(result["drifted"]))
    for kind, count in counts.items():
        figures[f"helmforge_{kind}"] = float(count)
    manifests = counts["manifest_get"] + counts["manifest_head"]
    figures["manifest_requests_per_instance"] = manifests / INSTANCES
    blobs = counts["blob_get"] + counts["blob_head"]
    met = manifests == INSTANCES and blobs == 0 and counts["other"] == 0
    figures["goal_one_manifest_no_blob"] = "met" if met else "missed"
    since = len(lab.proxy.requests)
    loop_seconds, matched = _manifest_loop(lab)
    figures["loop_s"] = loop_seconds
    figures["loop_matched"] = float(matched)
    figures["loop_manifest_get"] = float(lab.registry_requests(since)["manifest_get"])
    figures["ratio_helmforge_over_loop"] = seconds / loop_seconds
    figures["helmforge_ms_per_instance"] = seconds * 1000 / INSTANCES
    figures["loop_ms_per_instance"] = loop_seconds * 1000 / INSTANCES
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)


def run() -> dict[str, float | str]:
    figures: dict[str, float | str] = {"instances": float(INSTANCES)}
    prefix = "helmforge-bench-fleet-verify-"
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as scratch,
        fleet_lab(Path(scratch), INSTANCES) as lab,
    ):
        figures["seed_s"] = lab.seed_seconds
        _measure(lab, figures)
    print_figures(
        f"fleet verification of {INSTANCES} instances, registry behind a counting proxy"
        + (" (HELMFORGE_BENCH_QUICK)" if QUICK else ""),
        figures,
    )
    return figures


if __name__ == "__main__":
    run()
