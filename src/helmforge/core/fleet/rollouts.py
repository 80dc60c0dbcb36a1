"""Rollout plans (DESIGN §10): waves of instances moved to a template version, in order.

``parse_plan`` reads ``{"waves": [{"name", "filter"}, ...], "stop_on"}``: at least one wave,
names unique and non-empty, each filter as ``core.fleet.filters`` reads it; ``stop_on`` is
``failure`` (stop at the first instance whose upgrade fails) or ``unhealthy`` (also stop when
Argo CD does not report an upgraded instance synced and healthy).

``overlap`` says where two plans could move one instance: two rollouts of one template name
must not, or each would move it to its own version in turn.
"""

from __future__ import annotations

__all__ = ["STOP_ON", "Wave", "filters_overlap", "overlap", "parse_plan"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helmforge.core.errors import InputError, Location
from helmforge.core.fleet.filters import parse_filter

STOP_ON = ("failure", "unhealthy")
_MAX_WAVES = 50


@dataclass(frozen=True, slots=True)
class Wave:
    name: str
    filter: Mapping[str, str]


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
        parsed.append(Wave(name, parse_filter(wave.get("filter"), source=f"{where}.filter")))
    return tuple(parsed), str(stop_on)


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
