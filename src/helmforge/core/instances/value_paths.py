"""Paths into values: ``image.tag``, ``env[0].name``, ``annotations.example\\.com/x`` (pure)."""

from __future__ import annotations

__all__ = ["ValuePath", "format_path", "parse_path"]

import re

from helmforge.core.errors import InputError, Location

#: Mapping keys as ``str``, list indexes as ``int``.
type ValuePath = tuple[str | int, ...]

_SEGMENT = re.compile(r"(?:\\.|[^.\[\]\\])+")


def parse_path(text: str, *, source: str = "path") -> ValuePath:
    """``image.tag`` / ``containers[0].name`` / ``annotations.example\\.com/x`` as a path.

    A ``.`` inside a key is written ``\\.``; ``[N]`` is a list index. Raises ``InputError``
    saying what a path looks like.
    """
    path: list[str | int] = []
    position = 0
    expect_key = True
    while position < len(text):
        if text[position] == "[":
            close = text.find("]", position)
            digits = text[position + 1 : close] if close > 0 else ""
            if not digits.isdigit() or not digits.isascii():
                break
            path.append(int(digits))
            position = close + 1
            expect_key = False
            continue
        if not expect_key:
            if text[position] != ".":
                break
            position += 1
        match = _SEGMENT.match(text, position)
        if match is None:
            break
        path.append(re.sub(r"\\(.)", r"\1", match.group()))
        position = match.end()
        expect_key = False
    else:
        if path:
            return tuple(path)
    raise InputError(
        f"path {text!r} is not valid: expected keys separated by '.', list indexes as [N] "
        "and '\\.' for a dot inside a key (e.g. image.tag, env[0].name)",
        location=Location(source),
    )


def format_path(path: ValuePath) -> str:
    """The dotted form ``parse_path`` reads (``$`` for the whole file)."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            key = step.replace("\\", "\\\\").replace(".", "\\.")
            out += f".{key}" if out else key
    return out or "$"
