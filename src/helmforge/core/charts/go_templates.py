"""Writing Helm template text: YAML whose literal text Helm prints verbatim.

Every literal scalar is written as YAML (plain when unambiguous, else double-quoted on one
line, so a value can never start a new document or object). Any ``{{`` or ``}}`` in literal
text becomes an action printing that delimiter (``{{ "{{" }}``), so user text never becomes
template code. Values are never pasted into template text: the template refers to them
(``.Values.x``) and Helm writes them through ``quote``, ``int64``, ``toJson`` or ``toYaml``.
"""

from __future__ import annotations

__all__ = [
    "Interpolation",
    "LabelsBlock",
    "ValueReference",
    "emit_document",
    "escape_text",
    "go_string",
    "plain_scalar",
    "yaml_quote",
    "yaml_scalar",
]

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helmforge.core.templates.value_schemas import ParameterType
from helmforge.core.yaml_codec import needs_quotes

_DELIMITERS = re.compile(r"\{\{|\}\}")
# Plain (unquoted) scalars: a letter, '_' or '/' first; spaces and colons only between safe
# characters, so never ": ", " #", or a trailing space or colon.
_PLAIN = re.compile(r"[A-Za-z_/](?:[A-Za-z0-9_./@-]|[ :](?=[A-Za-z0-9_./@-]))*\Z")
# YAML allows only printable characters; YAML 1.1 readers also break lines at these.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ValueReference:
    """A whole scalar that is one ``${values.X}``: written by the parameter's type. With
    ``root`` another object Helm passes to templates (``.Release`` for
    ``${release.namespace}``: path ``("Namespace",)``, type string)."""

    path: tuple[str, ...]
    type: ParameterType
    root: str = ".Values"

    @property
    def expression(self) -> str:
        return self.root + "." + ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Interpolation:
    """A string of literal parts and value references, written as one quoted string."""

    parts: tuple[str | ValueReference, ...]


@dataclass(frozen=True, slots=True)
class LabelsBlock:
    """``metadata.labels`` of a top-level object: the chart's labels plus the object's own."""

    helper: str
    own: Mapping[str, Any] | ValueReference | None


def _escape_unsafe(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


def yaml_quote(text: str) -> str:
    """``text`` as a one-line double-quoted YAML scalar (JSON escapes, printable only)."""
    return _UNSAFE.sub(_escape_unsafe, json.dumps(text, ensure_ascii=False))


def go_string(text: str) -> str:
    """``text`` as a Go string literal (the JSON escapes are valid Go escapes)."""
    return yaml_quote(text)


def _escape_delimiter(match: re.Match[str]) -> str:
    return '{{ "{{" }}' if match.group(0) == "{{" else '{{ "}}" }}'


def escape_text(text: str) -> str:
    """Plain text for a template file: ``{{``/``}}`` become actions that print them."""
    return _DELIMITERS.sub(_escape_delimiter, text)


def plain_scalar(value: Any) -> str | None:
    """A scalar as one line of YAML data (not template text), or None if it needs a block.

    Strings are plain when no YAML 1.1 or 1.2 reader could take them for anything else,
    double-quoted otherwise; multi-line strings give None (callers write a literal block).
    """
    if isinstance(value, str):
        if _PLAIN.match(value) and not needs_quotes(value):
            return value
        return None if "\n" in value else yaml_quote(value)
    if isinstance(value, (Mapping, list)):
        return None
    return yaml_scalar(value)


def yaml_scalar(value: Any) -> str:
    """A literal value as YAML template text that Helm prints back unchanged."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    text = str(value)
    if _PLAIN.match(text) and not needs_quotes(text):
        return text
    quoted = yaml_quote(text)
    return escape_text(quoted) if ("{{" in quoted or "}}" in quoted) else quoted


def _inline(reference: ValueReference) -> str:
    expression = reference.expression
    kind = reference.type
    if kind == "integer":
        return f"{{{{ {expression} | int64 }}}}"
    if kind == "string":
        return f"{{{{ {expression} | quote }}}}"
    if kind == "boolean":
        return f"{{{{ {expression} }}}}"
    return f"{{{{ {expression} | toJson }}}}"


def _interpolation(node: Interpolation) -> str:
    operands: list[str] = []
    for part in node.parts:
        if isinstance(part, str):
            operands.append(go_string(part))
        elif part.type == "integer":
            operands.append(f"({part.expression} | int64)")
        else:
            operands.append(part.expression)
    return f'{{{{ list {" ".join(operands)} | join "" | quote }}}}'


def emit_document(node: Mapping[str, Any]) -> str:
    """A top-level object as template text, ending with a newline."""
    lines: list[str] = []
    _emit_mapping(node, 0, lines)
    return "\n".join(lines) + "\n"


def _emit_value(prefix: str, value: Any, indent: int, lines: list[str]) -> None:
    """Write ``prefix`` (``key:`` or ``-``) followed by ``value`` at ``indent`` for children."""
    if isinstance(value, ValueReference):
        if value.type in ("object", "array"):
            if prefix.endswith(":"):
                lines.append(f"{prefix} {{{{- toYaml {value.expression} | nindent {indent} }}}}")
            else:
                lines.append(f"{prefix} {{{{ toJson {value.expression} }}}}")
        else:
            lines.append(f"{prefix} {_inline(value)}")
    elif isinstance(value, Interpolation):
        lines.append(f"{prefix} {_interpolation(value)}")
    elif isinstance(value, LabelsBlock):
        lines.append(prefix)
        pad = " " * indent
        lines.append(f'{pad}{{{{- include "{value.helper}" . | nindent {indent} }}}}')
        if isinstance(value.own, ValueReference):
            lines.append(f"{pad}{{{{- with {value.own.expression} }}}}")
            lines.append(f"{pad}{{{{- toYaml . | nindent {indent} }}}}")
            lines.append(f"{pad}{{{{- end }}}}")
        elif value.own:
            _emit_mapping(value.own, indent, lines)
    elif isinstance(value, Mapping):
        if not value:
            lines.append(f"{prefix} {{}}")
        else:
            lines.append(prefix)
            _emit_mapping(value, indent, lines)
    elif isinstance(value, list):
        if not value:
            lines.append(f"{prefix} []")
        else:
            lines.append(prefix)
            _emit_sequence(value, indent, lines)
    elif isinstance(value, str) and "\n" in value and _block_safe(value):
        body = value[:-1] if value.endswith("\n") else value
        lines.append(f"{prefix} {'|' if value.endswith(chr(10)) else '|-'}")
        pad = " " * indent
        lines.extend(pad + line if line else "" for line in body.split("\n"))
    else:
        lines.append(f"{prefix} {yaml_scalar(value)}")


def _block_safe(text: str) -> bool:
    """Can ``text`` be a literal block (``|``/``|-``) that reads back exactly?"""
    return (
        not text.startswith((" ", "\t", "\n"))
        and not text.endswith("\n\n")
        and "\r" not in text
        and "{{" not in text
        and "}}" not in text
        and _UNSAFE.search(text) is None
        and all(ord(char) >= 32 or char in "\t\n" for char in text)
    )


def _emit_mapping(node: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in node.items():
        _emit_value(f"{pad}{yaml_scalar(key)}:", value, indent + 2, lines)


def _emit_sequence(node: list[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in node:
        if isinstance(item, Mapping) and item and not isinstance(item, LabelsBlock):
            start = len(lines)
            _emit_mapping(item, indent + 2, lines)
            lines[start] = f"{pad}- " + lines[start][indent + 2 :]
        elif isinstance(item, list) and item:
            lines.append(f"{pad}-")
            _emit_sequence(item, indent + 2, lines)
        else:
            _emit_value(f"{pad}-", item, indent + 2, lines)
