"""Start-up of the ``helmforge`` command: whole cold processes, as a user or a CI job runs them.

Each command is its own process, started with ``posix_spawn`` and reaped with ``wait4`` (wall
time from spawn to exit, and the CPU time the kernel accounted to it). Bytecode is cached, as
an installed tool has it, in a folder of this run (this workplace sets PYTHONDONTWRITEBYTECODE,
which would recompile helmforge's own modules on every start): one warm-up round writes it.
The commands take turns, ROUNDS rounds, so that other load on the machine hits all alike;
the medians are printed.

Rows: the interpreter alone and ``import typer`` (the floor every command stands on);
``--version``; ``--help``; ``generate --help``; ``template validate`` of the bundled example;
and one chart: ``helmforge generate examples/templates/web-service.yaml`` for one context.
Goals (Foundation issue): one chart <= 300 ms; ``--help`` <= 150 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HELMFORGE = str(Path(sys.executable).with_name("helmforge"))
EXAMPLE = str(REPO / "examples" / "templates" / "web-service.yaml")
ROUNDS = 9
GOALS = {"help": 0.150, "one_chart": 0.300}


def _commands(out: Path) -> dict[str, list[str]]:
    context = [
        "--product", "shop", "--customer", "acme", "--environment", "prod",
        "--instance", "cold", "--version", "2.4.1",
    ]  # fmt: skip
    return {
        "python": [sys.executable, "-c", "pass"],
        "import_typer": [sys.executable, "-c", "import typer"],
        "version": [HELMFORGE, "--version"],
        "help": [HELMFORGE, "--help"],
        "generate_help": [HELMFORGE, "generate", "--help"],
        "template_validate": [HELMFORGE, "template", "validate", EXAMPLE],
        "one_chart": [HELMFORGE, "generate", EXAMPLE, *context, "--out", str(out)],
    }


LABELS = {
    "python": "interpreter alone (python -c pass)",
    "import_typer": "python -c 'import typer'",
    "version": "helmforge --version",
    "help": "helmforge --help",
    "generate_help": "helmforge generate --help",
    "template_validate": "helmforge template validate web-service.yaml",
    "one_chart": "helmforge generate web-service.yaml (one chart)",
}


def _environment(cache: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = str(cache)
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
        raise RuntimeError(f"{' '.join(command)} failed ({status})")
    return wall, usage.ru_utime + usage.ru_stime


def run() -> dict[str, float | str]:
    """Measure every command ROUNDS times in turn; print a table; return the medians in ms."""
    with tempfile.TemporaryDirectory(prefix="helmforge-bench-") as raw:
        work = Path(raw)
        commands = _commands(work / "out")
        environment = _environment(work / "pycache")
        for command in commands.values():  # the warm-up writes the bytecode cache
            _run_once(command, environment)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(ROUNDS):
            for name, command in commands.items():
                wall, cpu = _run_once(command, environment)
                walls[name].append(wall)
                cpus[name].append(cpu)
    figures: dict[str, float | str] = {}
    for name in commands:
        figures[f"{name}_ms"] = round(statistics.median(walls[name]) * 1000, 1)
        figures[f"{name}_cpu_ms"] = round(statistics.median(cpus[name]) * 1000, 1)
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(
        f"start-up of cold processes (bytecode cached; medians of {ROUNDS} rounds; "
        f"load average {figures['load_average_1min']})"
    )
    width = max(len(label) for label in LABELS.values())
    print(f"  {'command':<{width}}  {'wall':>8}  {'cpu':>8}  goal")
    for name, label in LABELS.items():
        goal = f"<= {GOALS[name] * 1000:.0f} ms" if name in GOALS else ""
        wall, cpu = figures[f"{name}_ms"], figures[f"{name}_cpu_ms"]
        print(f"  {label:<{width}}  {wall:>5.0f} ms  {cpu:>5.0f} ms  {goal}")
    return figures


if __name__ == "__main__":
    run()
