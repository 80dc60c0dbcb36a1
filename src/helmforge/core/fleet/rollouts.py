"""Rollout plans (DESIGN §10): waves of instances moved to a template version, in order.

``parse_plan`` reads ``{"waves": [{"name", "filter", "max_parallel"?}, ...], "stop_on"}``: at
least one wave, names unique and non-empty, each filter as ``core.fleet.filters`` reads it,
``max_parallel`` how many of the wave's instances are moved at once (1 to 20; 1, the
default, one after another); ``stop_on`` is ``failure`` (stop at the first instance whose
upgrade fails) or ``unhealthy`` (also stop when Argo CD does not report an upgraded instance
synced and healthy). ``stops`` says whether an instance's outcome stops the rollout, and a
``WaveGate`` when a wave may start moving another instance.

``overlap`` says where two plans could move one instance: two rollouts of one template name
must not, or each would move it to its own version in turn.
"""

from __future__ import annotations

__all__ = [
    "MAX_PARALLEL",
    "STOP_ON",
    "Wave",
    "WaveGate",
    "filters_overlap",
    "overlap",
    "parse_plan",
    "stops",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helmforge.core.errors import InputError, Location
from helmforge.core.fleet.filters import parse_filter

STOP_ON = ("failure", "unhealthy")
_MAX_WAVES = 50
#: The most instances of one wave moved at once (each holds a job thread and, while its
#: commit waits for its group, an outbound one).
MAX_PARALLEL = 20


@dataclass(frozen=True, slots=True)
class Wave:
    name: str
    filter: Mapping[str, str]
    max_parallel: int = 1


def _max_parallel(value: Any, where: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL:
        raise InputError(
            f"{where}.max_parallel {value!r} is not an integer from 1 to {MAX_PARALLEL}: how "
            "many of the wave's instances are upgraded at once (1, the default: one after "
            "another)",
            location=Location(path=f"{where}.max_parallel"),
        )
    return value


def parse_plan(waves: Any, stop_on: Any) -> tuple[tuple[Wave, ...], str]:
    """The waves and the stop condition; ``InputError`` naming ``waves[N].KEY`` or
    ``stop_on`` and what would be valid."""
    if stop_on not in STOP_ON:
        raise InputError(
            f"stop_on {stop_on!r} is not one of {', '.join(STOP_ON)}",
            location=Location(path="stop_on"),
        )
    if not isinstance(waves, Sequence) or isinstance(waves, str) or not waves:
        raise InputError(
            'waves must be a list of {"name", "filter"}, at least one',
            location=Location(path="waves"),
        )
    if len(waves) > _MAX_WAVES:
        raise InputError(f"at most {_MAX_WAVES} waves", location=Location(path="waves"))
    parsed: list[Wave] = []
    for index, wave in enumerate(waves):
        where = f"waves[{index}]"
        if not isinstance(wave, Mapping):
            raise InputError(f"{where} must be an object", location=Location(path=where))
        name = wave.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 63:
            raise InputError(
                f"{where}.name is required (at most 63 characters)",
                location=Location(path=f"{where}.name"),
            )
        if any(other.name == name for other in parsed):
            raise InputError(
                f"{where}.name {name!r} names an earlier wave too: wave names are unique",
                location=Location(path=f"{where}.name"),
            )
        chosen = parse_filter(wave.get("filter"), source=f"{where}.filter")
        parsed.append(Wave(name, chosen, _max_parallel(wave.get("max_parallel"), where)))
    return tuple(parsed), str(stop_on)


def stops(state: str, stop_on: str) -> bool:
    """Whether an instance that ended in ``state`` (failed, unhealthy, upgraded, proposed,
    unchanged) stops a rollout that stops on ``stop_on``."""
    return state == "failed" or (state == "unhealthy" and stop_on == "unhealthy")


@dataclass(slots=True)
class WaveGate:
    """When a wave may start moving another instance: while fewer than ``max_parallel`` are
    in flight and nothing stopped it. What stops it (``stopped_by``): the first instance
    that ``stops`` the rollout (``failed``), else a ``pause`` or ``abort`` asked before a
    start; once stopped, no instance starts and the ones in flight end. A failure outranks
    a request: the rollout is failed, not paused, when an instance in flight failed after a
    pause was asked (a resume would pass over the failed instance). ``first_failure`` is the
    instance that stopped it."""

    max_parallel: int
    stop_on: str
    in_flight: int = 0
    stopped_by: str | None = None
    first_failure: str | None = None

    def may_start(self) -> bool:
        """Whether another instance may start now."""
        return self.stopped_by is None and self.in_flight < self.max_parallel

    def asked(self, requested: str | None) -> None:
        """What a user asked of the rollout, read before a start: ``pause`` and ``abort``
        stop the wave (in-flight instances end and are recorded)."""
        if requested in ("pause", "abort") and self.stopped_by is None:
            self.stopped_by = requested

    def started(self) -> None:
        assert self.may_start(), "an instance started past the gate"
        self.in_flight += 1

    def ended(self, instance: str, state: str | None) -> None:
        """An instance in flight ended in ``state`` (``None``: its move raised, which no
        instance's outcome explains, see ``broke``)."""
        self.in_flight -= 1
        if state is None:
            self.broke()
        elif stops(state, self.stop_on) and self.first_failure is None:
            self.first_failure = instance
            self.stopped_by = "failed"

    def broke(self) -> None:
        """The job cannot go on (an error outside any instance's outcome: a bug, the job
        cancelled): nothing starts, and a failure seen before keeps its name."""
        if self.stopped_by in (None, "pause", "abort"):
            self.stopped_by = "broken"


def filters_overlap(first: Mapping[str, str], second: Mapping[str, str]) -> bool:
    """Whether one instance could match both filters: it can unless they name different
    values for one key (an empty filter matches every instance)."""
    return all(first[key] == second[key] for key in first.keys() & second.keys())


def overlap(
    first: Sequence[Mapping[str, Any]], second: Sequence[Mapping[str, Any]]
) -> tuple[str, str] | None:
    """The names of the first wave of ``first`` and the wave of ``second`` whose filters
    could match one instance (waves as ``{"name", "filter"}``), or ``None``."""
    for wave in first:
        for other in second:
            if filters_overlap(wave.get("filter") or {}, other.get("filter") or {}):
                return str(wave["name"]), str(other["name"])
    return None
