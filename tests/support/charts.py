"""Helpers for chart-engine tests: the bundled example, writing rendered charts, lint levels."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

from helmforge.core.charts import RenderedChart
from helmforge.core.contexts import Context, parse_context
from tests.support.helm import assert_helm_lints

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "templates" / "web-service.yaml"
GOLDEN = REPO / "tests" / "golden"


def context(**changes: str) -> Context:
    """A valid context, with some keys changed."""
    raw = {
        "product": "ledger",
        "customer": "acme",
        "environment": "prod",
        "instance": "a1",
        "version": "3.4.0",
    }
    raw.update(changes)
    return parse_context(raw)


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
        with tempfile.TemporaryDirectory() as folder:
            assert_helm_lints(write_chart(chart, Path(folder)))
        _LINTED.add(key)
    return chart
