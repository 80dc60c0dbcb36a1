"""values.yaml as a user typed it (pure): checked, made unambiguous, kept as written.

The YAML pane of the values editor and ``helmforge values edit -f FILE`` hand in the text of
values.yaml, comments and all; ``checked_values_text`` decides whether that text may be
committed as it is and what it means:

1. it is read with helmforge's codec (``core.yaml_codec``): a byte budget, duplicate keys,
   tags other than the plain ones, merge keys and alias bombs are refused with their line;
   the top level must be a mapping (or nothing). What the codec reads is what the text
   *means* (YAML 1.2, strictly: ``on``, ``y``, ``0755`` and ``12:30`` are strings);
2. it is read with ruamel.yaml's round-trip parser, which keeps comments and order — the text
   must be one it can edit later;
3. every plain scalar that a YAML 1.1 reader (Helm's Go YAML) would read as something else —
   a string value such as ``on``, ``y``, ``0755``, ``12:30`` or ``1.10``, or any such mapping
   key — is quoted in place, at its position in the text: nothing else of the text changes;
4. the result is read again, by the codec and by PyYAML's YAML 1.1 resolver (what Helm does),
   and both must give exactly the values of (1), types included (``1`` is not ``true``);
   otherwise the text is refused instead of committing a file that says something else.
"""

from __future__ import annotations

__all__ = ["MAX_VALUES_BYTES", "QuotedScalar", "ValuesText", "checked_values_text"]

import json
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.yaml_codec import (
    DEFAULT_LIMITS,
    YamlLimits,
    load_single,
    needs_quotes,
    plain_scalar_value,
)

#: The most a values.yaml given as text may hold (UTF-8); the rest of helmforge's YAML
#: budgets (depth, expanded nodes) apply within it.
MAX_VALUES_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class QuotedScalar:
    """A plain scalar quoted so that YAML 1.1 reads it as the string it is: its 1-based
    ``line`` and the ``text`` as written."""

    line: int
    text: str


@dataclass(frozen=True, slots=True)
class ValuesText:
    """values.yaml to commit: ``text`` (as written, but for the ``quoted`` scalars) and the
    ``values`` it means."""

    text: str
    values: dict[str, Any]
    quoted: tuple[QuotedScalar, ...]


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _check_size(text: str, source: str) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_VALUES_BYTES:
        return
    # The line the budget runs out on, so the message points somewhere.
    budget, line = MAX_VALUES_BYTES, 1
    for line, row in enumerate(text.splitlines(keepends=True), start=1):  # noqa: B007
        budget -= len(row.encode("utf-8", "surrogatepass"))
        if budget < 0:
            break
    raise InputError(
        f"values.yaml is {size} bytes; at most {MAX_VALUES_BYTES} are accepted (it passes "
        f"that on line {line})",
        location=Location(source, line=line),
    )


def _meaning(text: str, source: str, limits: YamlLimits) -> dict[str, Any]:
    try:
        data = load_single(text, source=source, limits=limits).data
    except TooLargeError as error:
        # An alias bomb or a nesting past the budget: text that cannot be values (422, at
        # its line), not a request too large to take.
        raise InputError(error.message, location=error.location) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"values.yaml must hold a mapping of values at its top level, found "
            f"{'a list' if isinstance(data, list) else type(data).__name__}: write "
            "key: value lines",
            location=Location(source, line=1),
        )
    return data


def _ambiguous_scalars(text: str, source: str) -> list[tuple[int, int, str]]:
    """``(start, end, value)`` of each plain scalar YAML 1.1 would misread (see the module)."""
    found: list[tuple[int, int, str]] = []
    # Each open container: [is_mapping, next node is a key].
    stack: list[list[bool]] = []
    try:
        for event in YAML(typ="rt").parse(text):
            kind = type(event).__name__
            is_key = bool(stack) and stack[-1][0] and stack[-1][1]
            if kind in ("MappingEndEvent", "SequenceEndEvent"):
                stack.pop()
                if stack and stack[-1][0]:
                    stack[-1][1] = not stack[-1][1]
                continue
            if kind not in ("ScalarEvent", "AliasEvent", "MappingStartEvent", "SequenceStartEvent"):
                continue
            if kind == "ScalarEvent" and event.style is None and event.tag is None:
                value = event.value
                if needs_quotes(value) and (is_key or isinstance(plain_scalar_value(value), str)):
                    found.append((event.start_mark.index, event.end_mark.index, value))
            if kind in ("MappingStartEvent", "SequenceStartEvent"):
                stack.append([kind == "MappingStartEvent", True])
            elif stack and stack[-1][0]:
                stack[-1][1] = not stack[-1][1]
    except (YAMLError, ValueError, IndexError) as error:
        line = (
            error.problem_mark.line + 1
            if isinstance(error, MarkedYAMLError) and error.problem_mark is not None
            else None
        )
        raise InputError(
            f"values.yaml cannot be read for editing: {getattr(error, 'problem', None) or error}",
            location=Location(source, line=line),
        ) from None
    return found


def _same(left: Any, right: Any) -> bool:
    """Equal values of equal types all the way down (``True == 1`` does not count)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(
            _same(a, b) for a, b in zip(left, right, strict=True)
        )
    return bool(left == right)


def _as_yaml_1_1(text: str, source: str) -> Any:
    try:
        return pyyaml.load(text, Loader=getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader))  # noqa: S506
    except pyyaml.YAMLError as error:
        raise InputError(
            f"values.yaml would not read as YAML 1.1 (as Helm reads it): {error}",
            location=Location(source),
        ) from None


def checked_values_text(
    text: str, *, source: str = "values.yaml", limits: YamlLimits = DEFAULT_LIMITS
) -> ValuesText:
    """``text`` checked and made unambiguous as the module says, or ``InputError`` naming the
    line (and nothing to commit). A leading byte order mark is dropped: Git diffs show it as a
    change of the first line, and it is no part of the values."""
    text = text.removeprefix("\ufeff")
    _check_size(text, source)
    meant = _meaning(text, source, limits)
    ambiguous = _ambiguous_scalars(text, source)
    pieces, position, quoted = [], 0, []
    for start, end, value in ambiguous:
        pieces += [text[position:start], json.dumps(value, ensure_ascii=False)]
        position = end
        quoted.append(QuotedScalar(_line_of(text, start), value))
    written = "".join(pieces) + text[position:]
    if not _same(_meaning(written, f"{source} (as written)", limits), meant):
        raise InputError(
            "values.yaml would read back differently once its YAML 1.1 look-alikes are "
            "quoted; nothing was written: quote the strings yourself",
            location=Location(source),
        )
    _ambiguous_scalars(written, source)  # ruamel reads what will be committed
    helm = _as_yaml_1_1(written, source)
    if not _same({} if helm is None else helm, meant):
        raise InputError(
            "values.yaml would mean something else to a YAML 1.1 reader (Helm) than to "
            "helmforge; quote the strings among its values",
            location=Location(source),
        )
    return ValuesText(text=written, values=meant, quoted=tuple(quoted))
