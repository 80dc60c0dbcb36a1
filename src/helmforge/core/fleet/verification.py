"""What verification concludes about one instance (pure): ok, or each way it drifted.

The service gathers what it observed (``Observation``): the digest of the build helmforge
recorded, the digest its recorded inputs give when rendered again today, the chart layer the
registry serves under the chart version's tag (one manifest read, no blob), what
application.yaml points at, and the overrides in Git now beside those helmforge last
committed. ``drift_of`` compares them; every drift names its kind and says what differs:

- ``tag_missing`` / ``tag_moved``: the registry serves nothing, or another archive, under the tag;
- ``not_reproducible``: the recorded inputs no longer give the recorded archive (or cannot be
  rendered at all), though the generator that built it (helmforge's version, and the versions
  of what renders and packs) is the one running, or was not recorded;
- ``generator_changed``: the archive differs and another generator built it ("built by
  helmforge X, this is Y: re-derivation may differ"): a notice, not drift (``NOTICES``), as
  what runs may well be what was built;
- ``application_mismatch``: application.yaml names another chart or chart version;
- ``values_changed``: values.yaml differs from what helmforge last committed (edited in Git
  behind helmforge's back), with the paths that changed;
- ``unreadable``: a file helmforge needs is missing or not what it wrote.
"""

from __future__ import annotations

__all__ = ["NOTICES", "Drift", "Observation", "drift_of", "generator_text", "outcome_json"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from helmforge.core.instances.value_paths import format_path
from helmforge.core.instances.values_diff import override_changes


@dataclass(frozen=True, slots=True)
class Drift:
    kind: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, **dict(self.details)}


@dataclass(frozen=True, slots=True)
class Observation:
    """What was found for one instance. ``None`` digests mean "absent"; ``*_problem`` says
    why something could not be read or rendered (then its value is not compared)."""

    instance: str
    chart: str
    chart_version: str
    tag: str
    recorded_digest: str | None
    rebuilt_digest: str | None = None
    rebuild_problem: str | None = None
    registry_digest: str | None = None
    registry_problem: str | None = None
    application_chart: str | None = None
    application_version: str | None = None
    application_problem: str | None = None
    recorded_values: Mapping[str, Any] | None = None
    current_values: Mapping[str, Any] | None = None
    values_problem: str | None = None
    recorded_revision: str | None = None
    #: What built the recorded archive (``None``: not recorded) and what rebuilt it now:
    #: ``{"helmforge": version, ...}`` (``services.chart_builds.generator``).
    recorded_generator: Mapping[str, str] | None = None
    running_generator: Mapping[str, str] = field(default_factory=dict)


#: Drift kinds that report a doubt, not a drift: an instance with only these is a ``notice``.
NOTICES = ("generator_changed",)


def generator_text(generator: Mapping[str, str], *, beside: Mapping[str, str]) -> str:
    """``helmforge X`` and, in brackets, each other part that differs from ``beside``:
    ``helmforge 0.1.0 (zlib 1.2.13)``."""
    others = [
        f"{part} {generator.get(part, '?')}"
        for part in sorted(set(generator) | set(beside))
        if part != "helmforge" and generator.get(part) != beside.get(part)
    ]
    text = f"helmforge {generator.get('helmforge', '?')}"
    return f"{text} ({', '.join(others)})" if others else text


def _registry_drift(seen: Observation) -> list[Drift]:
    if seen.registry_problem is not None:
        return [Drift("unreadable", f"registry: {seen.registry_problem}")]
    if seen.registry_digest is None:
        return [
            Drift(
                "tag_missing",
                f"the registry serves nothing under {seen.chart}:{seen.tag}",
                {"tag": seen.tag},
            )
        ]
    if seen.recorded_digest is not None and seen.registry_digest != seen.recorded_digest:
        return [
            Drift(
                "tag_moved",
                f"{seen.chart}:{seen.tag} now serves {seen.registry_digest}, not the recorded "
                f"build {seen.recorded_digest}",
                {"tag": seen.tag, "recorded": seen.recorded_digest, "served": seen.registry_digest},
            )
        ]
    return []


def _build_drift(seen: Observation) -> list[Drift]:
    if seen.recorded_digest is None:
        return [Drift("not_reproducible", "helmforge has no recorded build of this chart version")]
    if seen.rebuild_problem is not None:
        return [
            Drift(
                "not_reproducible",
                f"the recorded inputs no longer render: {seen.rebuild_problem}",
                {"recorded": seen.recorded_digest},
            )
        ]
    if seen.rebuilt_digest is None or seen.rebuilt_digest == seen.recorded_digest:
        return []
    digests = {"recorded": seen.recorded_digest, "rebuilt": seen.rebuilt_digest}
    given = f"the recorded inputs now give {seen.rebuilt_digest}, not the recorded " + str(
        seen.recorded_digest
    )
    built_by, running = seen.recorded_generator, seen.running_generator
    if built_by is None:
        return [
            Drift(
                "not_reproducible",
                f"{given}; the build did not record what generated it (it predates the "
                f"record), so a helmforge upgrade may be why: this is "
                f"{generator_text(running, beside=running)}",
                {**digests, "running_generator": dict(running)},
            )
        ]
    if dict(built_by) != dict(running):
        return [
            Drift(
                "generator_changed",
                f"built by {generator_text(built_by, beside=running)}, this is "
                f"{generator_text(running, beside=built_by)}: re-derivation may differ "
                f"({given})",
                {
                    **digests,
                    "recorded_generator": dict(built_by),
                    "running_generator": dict(running),
                },
            )
        ]
    return [Drift("not_reproducible", f"{given}, with the generator that built it", digests)]


def _application_drift(seen: Observation) -> list[Drift]:
    if seen.application_problem is not None:
        return [Drift("unreadable", f"application.yaml: {seen.application_problem}")]
    wrong = []
    if seen.application_chart != seen.chart:
        wrong.append(f"chart {seen.application_chart!r} (recorded {seen.chart!r})")
    if seen.application_version != seen.chart_version:
        wrong.append(
            f"targetRevision {seen.application_version!r} (recorded {seen.chart_version!r})"
        )
    if not wrong:
        return []
    return [
        Drift(
            "application_mismatch",
            f"application.yaml points to {' and '.join(wrong)}",
            {"chart": seen.application_chart, "target_revision": seen.application_version},
        )
    ]


def _values_drift(seen: Observation) -> list[Drift]:
    if seen.values_problem is not None:
        return [Drift("unreadable", f"values.yaml: {seen.values_problem}")]
    if seen.recorded_values is None or seen.current_values is None:
        return []
    changes = override_changes(seen.recorded_values, seen.current_values)
    if not changes:
        return []
    paths = [format_path(change.path) for change in changes]
    return [
        Drift(
            "values_changed",
            f"values.yaml differs from what helmforge last committed "
            f"({(seen.recorded_revision or '')[:12]}): {', '.join(paths)}",
            {"paths": paths, "recorded_revision": seen.recorded_revision},
        )
    ]


def drift_of(seen: Observation) -> list[Drift]:
    """Every way the instance drifted from what helmforge recorded; empty when none."""
    return [
        *_registry_drift(seen),
        *_build_drift(seen),
        *_application_drift(seen),
        *_values_drift(seen),
    ]


def outcome_json(instance: str, drifts: list[Drift]) -> dict[str, Any]:
    """One entry of the verification result: ``{"instance", "status": "ok" | "drift" |
    "notice", "drift": [...]}`` (``notice``: only kinds of ``NOTICES``)."""
    drifted = any(drift.kind not in NOTICES for drift in drifts)
    return {
        "instance": instance,
        "status": "drift" if drifted else ("notice" if drifts else "ok"),
        "drift": [drift.as_json() for drift in drifts],
    }
