"""Catalog import of 10,000 objects (~20 MB of YAML) against the bare C YAML parse.

Both measurements run in fresh subprocesses on the same file, in the same run:
- ``parse``: ``yaml.load_all(text, Loader=yaml.CSafeLoader)`` (no checks, no storage);
- ``import``: ``services.catalog.import_sources`` into a fresh SQLite catalog (safe parse,
  cleaning, canonical JSON + sha256, schema validation, bulk insert in one transaction).
Goals (issue 3): import time <= 2x the parse; peak RSS of the import process <= 6x the input.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OBJECTS = 10_000
ROUNDS = 3
_CHILD = "--child"


def _deployment(index: int) -> str:
    env = "".join(
        f"""            - name: SETTING_{number}
              value: "value-{index}-{number}-{"x" * 24}"
"""
        for number in range(20)
    )
    return f"""---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: service-{index}
  namespace: team-{index % 40}
  labels:
    app: service-{index}
    tier: {("frontend", "backend", "data")[index % 3]}
    team: team-{index % 40}
  annotations:
    example.com/owner: "team-{index % 40}@example.com"
    example.com/runbook: "https://runbooks.example.com/service-{index}"
spec:
  replicas: {1 + index % 5}
  selector:
    matchLabels:
      app: service-{index}
  template:
    metadata:
      labels:
        app: service-{index}
        tier: {("frontend", "backend", "data")[index % 3]}
    spec:
      serviceAccountName: service-{index}
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        fsGroup: 1000
      containers:
        - name: server
          image: registry.example.com/team-{index % 40}/service-{index}:v1.{index % 97}.0
          ports:
            - containerPort: 8080
              name: http
          env:
{env}          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
            initialDelaySeconds: 5
          livenessProbe:
            httpGet:
              path: /healthz
              port: 8080
            initialDelaySeconds: 15
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: 500m
              memory: 512Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop:
                - ALL
"""


def _service(index: int) -> str:
    return f"""---
apiVersion: v1
kind: Service
metadata:
  name: service-{index}
  namespace: team-{index % 40}
  labels:
    app: service-{index}
spec:
  type: ClusterIP
  selector:
    app: service-{index}
  ports:
    - name: http
      port: 80
      targetPort: 8080
"""


def _config_map(index: int) -> str:
    lines = "".join(f"  key.{number}: '{'v' * 40}-{index}-{number}'\n" for number in range(40))
    return f"""---
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-{index}
  namespace: team-{index % 40}
  labels:
    app: service-{index}
data:
{lines}  application.properties: |
    server.port=8080
    feature.flags=alpha,beta,gamma
    service.name=service-{index}
"""


def generate(objects: int = OBJECTS) -> str:
    """About 2 KB of realistic YAML per object: Deployments, Services and ConfigMaps."""
    makers = (_deployment, _service, _config_map)
    return "".join(makers[index % 3](index) for index in range(objects))


def _child(mode: str, path: str, database: str) -> None:
    content = Path(path).read_bytes()
    started = time.perf_counter()
    if mode == "parse":
        import yaml

        count = sum(1 for _ in yaml.load_all(content.decode(), Loader=yaml.CSafeLoader))
    else:
        from helmforge.core.access.principals import local_operator
        from helmforge.services import catalog

        store = catalog.open_catalog(f"sqlite:///{database}")
        begun = time.perf_counter()
        report = catalog.import_sources(
            store.sessions, [catalog.Source(path, content)], actor=local_operator("benchmark")
        )
        count = report.count("created")
        store.engine.dispose()
        started = begun  # the schema migration of a fresh database is not the import
    seconds = time.perf_counter() - started
    # VmHWM is this address space's peak (ru_maxrss would include the parent's before exec).
    status = Path("/proc/self/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    peak *= 1024
    print(json.dumps({"seconds": seconds, "count": count, "peak_rss": peak}))


def _measure(mode: str, path: Path, database: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.imports", _CHILD, mode, str(path), str(database)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def run() -> dict[str, float | str]:
    """Generate the input, measure parse and import in subprocesses, print and return figures."""
    with tempfile.TemporaryDirectory(prefix="helmforge-bench-") as folder:
        path = Path(folder) / "objects.yaml"
        path.write_text(generate())
        size = path.stat().st_size
        # Alternate the two, best of ROUNDS each: the machine's load drifts during a run.
        parses, imports = [], []
        for round_number in range(ROUNDS):
            parses.append(_measure("parse", path, Path(folder) / "unused.db"))
            imports.append(_measure("import", path, Path(folder) / f"catalog-{round_number}.db"))
        parse = min(parses, key=lambda figures: figures["seconds"])
        imported = min(imports, key=lambda figures: figures["seconds"])
        imported["peak_rss"] = max(figures["peak_rss"] for figures in imports)
    figures: dict[str, float | str] = {
        "objects": float(imported["count"]),
        "input_mb": round(size / 1e6, 2),
        "c_parse_seconds": round(parse["seconds"], 3),
        "import_seconds": round(imported["seconds"], 3),
        "import_over_parse": round(imported["seconds"] / parse["seconds"], 2),
        "import_peak_rss_mb": round(imported["peak_rss"] / 1e6, 1),
        "peak_rss_over_input": round(imported["peak_rss"] / size, 2),
        "goal": "import_over_parse <= 2, peak_rss_over_input <= 6",
    }
    for key, value in figures.items():
        print(f"{key:22} {value}")
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == _CHILD:
        _child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        run()
