"""Placeholders in template text: ``${ctx.KEY}``, ``${values.PATH}`` and
``${release.namespace}``.

A string is split into literal text and references. Only the prefixes ``${ctx.``,
``${values.`` and ``${release.`` start a placeholder; other ``${...}`` text (shell variables in
a container's command, say) stays literal. ``$${`` writes a literal ``${``.

``${release.namespace}`` is the namespace Helm installs the release into
(``.Release.Namespace``): what a reference to one of the chart's own namespaced objects names
(a RoleBinding's ServiceAccount subject, the Service behind a webhook), since those objects are
installed there. It belongs in manifests only: values are data and never hold it.
"""

from __future__ import annotations

__all__ = [
    "RELEASE_KEYS",
    "ContextRef",
    "PlaceholderError",
    "ReleaseRef",
    "Segment",
    "ValuesRef",
    "has_placeholders",
    "parse_placeholders",
    "substitute_context",
]

import re
from dataclasses import dataclass

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(
    r"\$\$\{|\$\{(ctx|values|release)\.([^}]*)\}|\$\{(?:ctx|values|release)\.[^}]*\Z"
)
#: ``${release.KEY}`` keys and the Helm expression each stands for.
RELEASE_KEYS = {"namespace": ".Release.Namespace"}
_KEY = re.compile(_IDENTIFIER + r"\Z")
_PATH = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})*\Z")


class PlaceholderError(ValueError):
    """A malformed ``${ctx.…}`` or ``${values.…}`` placeholder; the message says why."""


@dataclass(frozen=True, slots=True)
class ContextRef:
    """``${ctx.KEY}``: replaced by the context's value at generation time."""

    key: str


@dataclass(frozen=True, slots=True)
class ValuesRef:
    """``${values.PATH}``: becomes a reference to ``.Values.PATH`` in the chart."""

    path: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class ReleaseRef:
    """``${release.KEY}``: what Helm knows of the release at install time (``namespace``)."""

    key: str

    @property
    def expression(self) -> str:
        return RELEASE_KEYS[self.key]


type Segment = str | ContextRef | ValuesRef | ReleaseRef


def has_placeholders(text: str) -> bool:
    """Cheap test: could ``text`` hold a placeholder (or an escaped ``$${``)?"""
    return "${" in text


def parse_placeholders(text: str) -> tuple[Segment, ...]:
    """Split ``text`` into literal strings and references, merging adjacent literals.

    Raises ``PlaceholderError`` for ``${ctx.}`` / ``${values.a..b}`` / an unclosed placeholder.
    """
    if "${" not in text:
        return (text,) if text else ()
    segments: list[Segment] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token == "$${":  # noqa: S105 - an escape sequence, not a secret
            literal.append("${")
            continue
        kind, body = match.group(1), match.group(2)
        if kind is None:
            raise PlaceholderError(f"unclosed placeholder {token!r}: add the closing '}}'")
        reference: Segment
        if kind == "ctx":
            if not _KEY.match(body):
                raise PlaceholderError(f"'${{ctx.{body}}}' must name one context key")
            reference = ContextRef(body)
        elif kind == "release":
            if body not in RELEASE_KEYS:
                raise PlaceholderError(
                    f"'${{release.{body}}}' is not known: the release placeholder is "
                    + ", ".join(f"${{release.{key}}}" for key in RELEASE_KEYS)
                )
            reference = ReleaseRef(body)
        else:
            if not _PATH.match(body):
                raise PlaceholderError(
                    f"'${{values.{body}}}' must be a dotted path of names "
                    "(letters, digits, '_'; not starting with a digit)"
                )
            reference = ValuesRef(tuple(body.split(".")))
        if literal:
            joined = "".join(literal)
            if joined:
                segments.append(joined)
            literal = []
        segments.append(reference)
    literal.append(text[position:])
    joined = "".join(literal)
    if joined:
        segments.append(joined)
    return tuple(segments)


def substitute_context(
    segments: tuple[Segment, ...],
    context: dict[str, str],
    *,
    release_namespace: str | None = None,
) -> tuple[Segment, ...]:
    """Replace every ``ContextRef`` by its value (and every ``${release.namespace}`` by
    ``release_namespace`` when one is given: a check or preview made without Helm) and merge
    the literals around it.

    A key missing from ``context`` raises ``KeyError`` (templates are checked before this).
    """
    result: list[Segment] = []
    for original in segments:
        segment: Segment = original
        if isinstance(original, ContextRef):
            segment = context[original.key]
        elif isinstance(original, ReleaseRef) and release_namespace is not None:
            segment = release_namespace
        if isinstance(segment, str):
            if result and isinstance(result[-1], str):
                result[-1] = result[-1] + segment
            elif segment:
                result.append(segment)
        else:
            result.append(segment)
    return tuple(result)
