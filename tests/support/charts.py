"""Helpers for chart tests: the bundled example template, a valid context, writing rendered
charts, lint levels."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import yaml

from helmforge.core.charts.rendering import RenderedChart
from helmforge.core.contexts import Context, parse_context

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "templates" / "web-service.yaml"
GOLDEN = REPO / "tests" / "golden"


CONTEXT = {
    "product": "ledger",
    "customer": "acme",
    "environment": "prod",
    "instance": "a1",
    "version": "3.4.0",
}


def context(**changes: str) -> Context:
    """A valid context, with some keys changed."""
    return parse_context({**CONTEXT, **changes})


def example_text(*, name: str = "web-service", version: str = "1.2.0") -> str:
    """The bundled example template, renamed and re-versioned."""
    text = EXAMPLE.read_text("utf-8")
    return text.replace("name: web-service", f"name: {name}", 1).replace(
        "version: 1.2.0", f"version: {version}", 1
    )


def write_chart(chart: RenderedChart, into: Path) -> Path:
    """Write a rendered chart's files under ``into/<chart name>`` and return that folder."""
    folder = into / chart.name
    for path, data in chart.files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_VALUE = r"\.Values(?:\.\w+)+"
_ALLOWED_ACTION = re.compile(
    rf"""(?x)
    \{{\{{\ S\ \}}\}}                                             # a printed delimiter
    | \{{\{{-?\ include\ S\ \.\ \|\ nindent\ \d+\ \}}\}}
    | \{{\{{\ {_VALUE}(?:\ \|\ (?:quote|int64|toJson))?\ \}}\}}
    | \{{\{{-\ toYaml\ {_VALUE}\ \|\ nindent\ \d+\ \}}\}}
    | \{{\{{\ toJson\ {_VALUE}\ \}}\}}
    | \{{\{{-\ with\ {_VALUE}\ \}}\}}
    | \{{\{{-\ toYaml\ \.\ \|\ nindent\ \d+\ \}}\}}
    | \{{\{{-\ end\ \}}\}}
    | \{{\{{\ list(?:\ (?:S|{_VALUE}|\({_VALUE}\ \|\ int64\)))+\ \|\ join\ S\ \|\ quote\ \}}\}}
    """
)


def template_actions(text: str) -> list[str]:
    """The Go template actions in ``text``, found as Go's lexer does (quoted strings skipped)."""
    actions: list[str] = []
    position = 0
    while (start := text.find("{{", position)) >= 0:
        cursor = start + 2
        while not text.startswith("}}", cursor):
            if cursor >= len(text):
                raise AssertionError(f"unclosed action: {text[start : start + 40]!r}")
            if text[cursor] == '"':
                match = _STRING.match(text, cursor)
                assert match is not None, text[cursor : cursor + 40]
                cursor = match.end()
            else:
                cursor += 1
        actions.append(text[start : cursor + 2])
        position = cursor + 2
    return actions


def assert_only_safe_actions(text: str) -> None:
    """Every action in a manifest is one helmforge writes; printed strings are delimiters only."""
    for action in template_actions(text):
        shape = _STRING.sub("S", action)
        assert _ALLOWED_ACTION.fullmatch(shape), action
        if shape == "{{ S }}":
            assert action in ('{{ "{{" }}', '{{ "}}" }}'), action


_LINTED: set[str] = set()


def assert_lints_once(chart: RenderedChart) -> RenderedChart:
    """Helm-lint a rendered chart (each distinct chart once per process) and return it."""
    digest = hashlib.sha256()
    for path, data in sorted(chart.files.items()):
        digest.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
    key = digest.hexdigest()
    if key not in _LINTED:
        from tests.support.helm import assert_helm_lints  # loads the Go library: only when linting

        with tempfile.TemporaryDirectory() as folder:
            assert_helm_lints(write_chart(chart, Path(folder)))
        _LINTED.add(key)
    return chart


_ACTION = re.compile(r'\{\{(-?) ((?:[^"}]|"(?:[^"\\]|\\.)*"|\}(?!\}))*?) (-?)\}\}')
FAKE_LABELS = {"helm.sh/chart": "chart-1.0.0", "app.kubernetes.io/managed-by": "Helm"}


#: The namespace ``simulate_helm`` installs into (``.Release.Namespace``).
RELEASE_NAMESPACE = "release-namespace"


def _lookup(values: Any, expression: str) -> Any:
    if expression == ".Release.Namespace":
        return RELEASE_NAMESPACE
    node = values
    for key in expression.removeprefix(".Values.").split("."):
        node = node[key]
    return node


def _operand(token: str, values: Any) -> str:
    if token.startswith('"'):
        return str(json.loads(token))
    if token.startswith("("):
        return str(int(_lookup(values, token[1:].split(" ", 1)[0])))
    value = _lookup(values, token)
    return json.dumps(value) if isinstance(value, bool) else str(value)


def simulate_helm(text: str, values: dict[str, Any]) -> str:
    """Execute the few action shapes helmforge writes, as Helm would (a test oracle for data).

    ``quote`` is modelled with JSON escapes (Go's %q differs only in how it escapes
    unprintable characters); the labels helper yields ``FAKE_LABELS``.
    """
    out: list[str] = []
    position = 0
    while (match := _ACTION.search(text, position)) is not None:
        literal = text[position : match.start()]
        position = match.end()
        body = match.group(2)
        out.append(literal.rstrip(" \t\n") if match.group(1) else literal)
        tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\([^)]*\)|[^ ]+', body)
        if len(tokens) == 1 and tokens[0].startswith('"'):
            out.append(json.loads(tokens[0]))
        elif tokens[0] == "include":
            labels = "\n".join(f"{k}: {json.dumps(v)}" for k, v in FAKE_LABELS.items())
            out.append("\n" + textwrap.indent(labels, " " * int(tokens[-1])))
        elif tokens[0] == "toYaml":
            out.append(_to_yaml(_lookup(values, tokens[1]), int(tokens[-1])))
        elif tokens[0] == "toJson":
            out.append(json.dumps(_lookup(values, tokens[1])))
        elif tokens[0] == "with":
            value = _lookup(values, tokens[1])
            end = text.index("{{- end }}", position)
            inner = _ACTION.search(text, position, end)
            assert inner is not None
            if value:
                out.append(_to_yaml(value, int(inner.group(2).split(" ")[-1])))
            position = end + len("{{- end }}")
        elif tokens[0] == "list":
            operands = tokens[1 : tokens.index("|")]
            out.append(_go_quote("".join(_operand(token, values) for token in operands)))
        else:
            value = _lookup(values, tokens[0])
            pipe = tokens[2] if len(tokens) > 2 else None
            if pipe == "quote":
                out.append(_go_quote(str(value)))
            elif pipe == "int64":
                out.append(str(int(value)))
            elif pipe == "toJson":
                out.append(json.dumps(value))
            else:
                out.append(json.dumps(value) if isinstance(value, bool) else str(value))
    out.append(text[position:])
    return "".join(out)


_NOT_PRINTABLE = re.compile(
    "[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]"
)


def _go_quote(text: str) -> str:
    """Like Go's %q (Sprig's quote): printable characters raw, the rest escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda m: f"\\U{ord(m.group(0)):08x}", quoted)


def _to_yaml(value: Any, indent: int) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=False, sort_keys=True, allow_unicode=True)
    dumped = dumped.removesuffix("...\n").rstrip("\n")
    return "\n" + textwrap.indent(dumped, " " * indent, lambda _: True)
