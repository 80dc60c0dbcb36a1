"""What an instance's values mean and how a change of them is checked (services side).

- ``problems_of``: the merged values (chart defaults for the instance's context ⊕ its
  overrides) against the chart's values.schema.json, every problem with its value path;
- ``InvalidValuesError`` (422 with ``errors: [{path, message}]``) and ``StaleInstanceError``
  (409 with ``current_revision`` and ``diff``);
- reading values.yaml, the diff of an instance's files between two states, the revision that
  last changed them, and commit subjects that name the instance and what changed.

The chart of an instance is built from its template version and context alone (required
values without a default deferred to the values file), so its defaults are exactly the
template's defaults and layers for the context: checking the merged values with the
template's own value schema is checking them against the chart's values.schema.json.
"""

from __future__ import annotations

__all__ = [
    "MAX_DIFF_CHARS",
    "InvalidValuesError",
    "StaleInstanceError",
    "ValueProblem",
    "changed_paths",
    "effective_of",
    "files_diff",
    "last_revision",
    "overlapping",
    "overrides_of",
    "plain_overrides",
    "problems_of",
    "published_template",
    "require_valid",
    "summary_of",
]

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import GitRepository
from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.access.principals import SYSTEM
from helmforge.core.charts.rendering import check_values
from helmforge.core.contexts import parse_context
from helmforge.core.errors import ConflictError, InputError, Location
from helmforge.core.instances.value_paths import ValuePath, format_path
from helmforge.core.instances.values_diff import ValueChange, unified_diff
from helmforge.core.templates.layering import effective_values
from helmforge.core.templates.models import Template
from helmforge.core.yaml_codec import load_single
from helmforge.services import template_store

#: The diff an answer, a change request or a history entry carries at most (RELIABILITY 44).
MAX_DIFF_CHARS = 64 * 1024
_MAX_SUMMARY = 72


@dataclass(frozen=True, slots=True)
class ValueProblem:
    """One reason values are refused: ``path`` into the values (``$`` for the whole file)."""

    path: str
    message: str


class InvalidValuesError(InputError):
    """The merged values break the chart's values.schema.json; nothing was committed."""

    def __init__(self, instance: str, problems: Sequence[ValueProblem]) -> None:
        self.errors = tuple(problems)
        super().__init__(
            f"the values of {instance} are invalid, nothing was committed: "
            + "; ".join(f"{problem.path}: {problem.message}" for problem in problems),
            problems=tuple(
                InputError(problem.message, location=Location(path=problem.path))
                for problem in problems
            ),
        )


class StaleInstanceError(ConflictError):
    """The instance changed since the revision the caller worked on: ``current_revision`` is
    the revision now, ``diff`` what changed from what they saw to what is there now."""

    def __init__(self, message: str, *, current_revision: str | None, diff: str) -> None:
        self.current_revision = current_revision
        self.diff = diff
        super().__init__(message)


def published_template(
    sessions: sessionmaker[Session], reference: str
) -> tuple[template_store.TemplateVersionView, Template]:
    """The published template version ``NAME[@VERSION]`` (read as the server: the caller's
    right on the instance was checked), else ``NotFoundError``/``ConflictError``."""
    return template_store.load_published(sessions, reference, actor=SYSTEM)


def plain_overrides(values: Any, *, source: str = "values") -> dict[str, Any]:
    """``values`` as plain JSON data (a mapping), or ``InputError`` naming why not: not a
    mapping, a key that is not text, a number that is not finite (Helm cannot read it)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InputError(
            "values must be an object: the overrides, keyed by value name",
            location=Location(path=source),
        )
    try:
        text = json.dumps(values, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"values must be plain JSON data (finite numbers, text keys): {error}",
            location=Location(path=source),
        ) from None
    data: dict[str, Any] = json.loads(text)
    return data


def overrides_of(data: bytes | None, *, source: str) -> tuple[str, dict[str, Any]]:
    """values.yaml's text and overrides (``("", {})`` when the file is absent or empty);
    ``InputError`` when it is not a YAML mapping helmforge can read."""
    if data is None:
        return "", {}
    text = data.decode("utf-8", "replace")
    loaded = load_single(text, source=source).data
    if loaded is None:
        return text, {}
    if not isinstance(loaded, dict):
        raise InputError(
            f"{source} must hold a mapping, found {type(loaded).__name__}",
            location=Location(source, line=1),
        )
    return text, plain_overrides(loaded, source=source)


def effective_of(
    template: Template, context: Mapping[str, str], overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values Argo CD's Helm gets (chart defaults ⊕ overrides) and where each parameter's
    value comes from (``default``, ``layer N``, ``override``; a required one nobody set is
    absent). ``InputError`` when the overrides do not fit the template's value tree."""
    return effective_values(
        template, parse_context(dict(context)), overrides=overrides, defer_required=True
    )


def _value_path(path: str | None) -> str:
    if not path or path == "values":
        return "$"
    return path.removeprefix("values.") if path.startswith("values.") else path


def problems_of(
    template: Template, context: Mapping[str, str], overrides: Mapping[str, Any]
) -> list[ValueProblem]:
    """Every way the merged values break the chart's schema (empty when they are fine)."""
    try:
        values, provenance = effective_of(template, context, overrides)
    except InputError as error:
        where = error.location.path if error.location else None
        return [ValueProblem(_value_path(where), error.message)]
    missing = [dotted for dotted in template.parameters if dotted not in provenance]
    problems = [
        ValueProblem(
            dotted,
            "is required: it has no default and no layer sets it for this instance; set it",
        )
        for dotted in missing
    ]
    try:
        check_values(
            template,
            values,
            schemas=load_schema_set(template.kubernetes_version),
            deferred=frozenset(missing),
        )
    except InputError as error:
        for problem in error.problems or (error,):
            where = problem.location.path if problem.location else None
            problems.append(ValueProblem(_value_path(where), problem.message))
    return problems


def require_valid(
    instance: str, template: Template, context: Mapping[str, str], overrides: Mapping[str, Any]
) -> None:
    """``InvalidValuesError`` listing every problem of ``overrides``, if any."""
    problems = problems_of(template, context, overrides)
    if problems:
        raise InvalidValuesError(instance, problems)


def _bounded(text: str) -> str:
    if len(text) <= MAX_DIFF_CHARS:
        return text
    cut = text.rfind("\n", 0, MAX_DIFF_CHARS)
    cut = cut if cut > 0 else MAX_DIFF_CHARS
    return text[:cut] + f"\n... ({len(text) - cut} more characters of diff not shown)\n"


def files_diff(before: Mapping[str, bytes | None], after: Mapping[str, bytes | None]) -> str:
    """The unified diff of each file from ``before`` to ``after`` (paths in the repository),
    bounded to ``MAX_DIFF_CHARS``."""
    parts = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old != new:
            parts.append(
                unified_diff(
                    (old or b"").decode("utf-8", "replace"),
                    (new or b"").decode("utf-8", "replace"),
                    path=path,
                )
            )
    return _bounded("".join(parts))


def last_revision(git: GitRepository, paths: Sequence[str], *, at: str | None = None) -> str | None:
    """The newest commit on the branch that changed any of ``paths`` (as last fetched, or up
    to commit ``at``)."""
    return git.last_change(paths, at=at)


def changed_paths(changes: Sequence[ValueChange]) -> tuple[ValuePath, ...]:
    return tuple(change.path for change in changes)


def overlapping(first: Sequence[ValuePath], second: Sequence[ValuePath]) -> list[str]:
    """The paths of ``first`` that one of ``second`` lies on, under or above."""
    return [
        format_path(one)
        for one in first
        if any(one[: len(two)] == two or two[: len(one)] == one for two in second)
    ]


def summary_of(changes: Sequence[ValueChange]) -> str:
    """``set a, b; removed c`` for a commit subject (shortened past a few paths)."""
    if not changes:
        return "no change"
    words = {"added": "set", "changed": "set", "removed": "removed"}
    grouped: dict[str, list[str]] = {}
    for change in changes:
        grouped.setdefault(words[change.kind], []).append(format_path(change.path))
    text = "; ".join(f"{verb} {', '.join(paths)}" for verb, paths in grouped.items())
    if len(text) > _MAX_SUMMARY:
        text = text[: _MAX_SUMMARY - 1].rsplit(",", 1)[0] + f" (+ more: {len(changes)} values)"
    return text
