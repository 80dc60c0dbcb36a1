"""Run every benchmark module and print its figures."""

from __future__ import annotations

import importlib

#: Each module exposes ``run() -> dict[str, float | str]`` and prints its own table.
BENCHMARKS = (
    "benchmarks.startup",
    "benchmarks.fleet",
    "benchmarks.oci",
    "benchmarks.imports",
    "benchmarks.server",
    "benchmarks.authorization",
    "benchmarks.change_inbox",
    "benchmarks.validators",
    "benchmarks.archives",
    "benchmarks.gitops",
    "benchmarks.helm_render",
    "benchmarks.fleet_impact",
    "benchmarks.fleet_workers",
    "benchmarks.fleet_verification",
    "benchmarks.fleet_rollout_waves",
)


def main() -> None:
    for name in BENCHMARKS:
        print(f"== {name}")
        importlib.import_module(name).run()


if __name__ == "__main__":
    main()
