"""Changing a template text's ``metadata.version`` without touching the rest of the text.

A new draft starts as a copy of an existing version; only its version must change, and the
author's comments, order and quoting stay as they wrote them. So the line is edited in the
text instead of loading and dumping the YAML.
"""

from __future__ import annotations

__all__ = ["with_metadata_version"]

import re

_TOP_KEY = re.compile(r"(?P<key>[A-Za-z_][\w-]*)\s*:")
_VERSION_LINE = re.compile(
    r"(?P<head>(?P<indent>[ ]+)version:[ ]*)(?P<quote>['\"]?)(?P<value>[^'\"#\s]*)(?P=quote)"
    r"(?P<tail>[ ]*(?:#.*)?)"
)


def with_metadata_version(text: str, version: str) -> str | None:
    """``text`` with the value of ``metadata.version`` replaced by ``version``.

    Returns ``None`` when the text has no block-style ``metadata:`` mapping with a plain or
    quoted ``version:`` line directly inside it (the caller then leaves the text alone).
    """
    lines = text.splitlines(keepends=True)
    inside = False
    block_indent: int | None = None
    for number, line in enumerate(lines):
        stripped = line.rstrip("\r\n")
        if not stripped.strip() or stripped.lstrip().startswith("#"):
            continue
        if not stripped[0].isspace():
            top = _TOP_KEY.match(stripped)
            inside = bool(
                top
                and top.group("key") == "metadata"
                and not stripped.split(":", 1)[1].split("#")[0].strip()
            )
            block_indent = None
            continue
        if not inside:
            continue
        indent = len(stripped) - len(stripped.lstrip(" "))
        if block_indent is None:
            block_indent = indent
        if indent != block_indent:
            continue
        match = _VERSION_LINE.fullmatch(stripped)
        if match:
            ending = line[len(stripped) :]
            quote = match.group("quote")
            lines[number] = (
                f"{match.group('head')}{quote}{version}{quote}{match.group('tail')}{ending}"
            )
            return "".join(lines)
    return None
