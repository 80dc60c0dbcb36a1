"""RELIABILITY rows 4, 6, 11-15: user text stays data, YAML 1.1 hazards stay strings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.go_templates import escape_text, yaml_scalar
from helmforge.core.charts.rendering import RenderedChart, chart_version_for, render_chart
from helmforge.core.contexts import parse_context
from helmforge.core.errors import InputError
from helmforge.core.templates.parsing import parse_template
from tests.support.charts import (
    EXAMPLE,
    assert_lints_once,
    assert_only_safe_actions,
    context,
    write_chart,
)
from tests.support.helm import assert_helm_lints, helm_lint

SCHEMAS = load_schema_set("1.31")
# Executed as template code, each of these fails (a nil pointer on a missing nested value),
# which Helm lint reports as an error; printed literally, they are harmless text.
LOOKUP = '{{ lookup "v1" "Secret" "" "" }}{{ .Values.missing.deep }}'
FILES = '{{ .Files.Get "x" }}{{ .Values.missing.deep }}'
TPL = "{{ tpl .Values.missing.deep . }}"
HAZARDS = ["on", "yes", "NO", "y", "n", "0755", "1.10", "1e3", "0o17", "01:30", "12:30:00", "~"]

TEMPLATE = parse_template(
    f"""\
apiVersion: helmforge.dev/v1
kind: Template
metadata: {{name: hostile, version: 1.0.0}}
spec:
  kubernetesVersion: "1.31"
  values:
    note: {{default: {json.dumps(FILES)}, description: "{{{{ tpl }}}} in a description"}}
    mode: {{default: "0755"}}
    flag: {{default: "on"}}
    extra: {{default: "x"}}
    labels: {{default: {{team: "{{{{ .Values.missing.deep }}}}"}}}}
  resources:
    - id: config
      manifest:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${{ctx.name}}
          annotations:
            "k{{{{ .Values.missing.deep }}}}": {json.dumps(LOOKUP)}
        data:
          note: ${{values.note}}
          mode: ${{values.mode}}
          flag: ${{values.flag}}
          mixed: "pre-${{values.extra}}-{json.dumps(TPL)[1:-1]}"
          braces: "{{{{{{ }}}}}}"
          left: "a{{"
          right: "}}b"
{"".join(f"          h{i}: {json.dumps(text)}{chr(10)}" for i, text in enumerate(HAZARDS))}
    - id: account
      manifest:
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: ${{ctx.name}}
          labels: ${{values.labels}}
""",
    source="hostile.yaml",
)


# Every chart these tests render is also checked by Helm lint.
pytestmark = pytest.mark.helm


def render(overrides: dict[str, Any] | None = None) -> RenderedChart:
    chart = render_chart(
        TEMPLATE, context(), schemas=SCHEMAS, overrides=overrides or {}, generator_version="0"
    )
    return assert_lints_once(chart)


def max_severity(folder: Path) -> int:
    return max(m.get("Severity", 0) for m in helm_lint(folder)["Messages"])


def test_hostile_template_is_valid() -> None:
    from helmforge.core.templates.parsing import validate_template

    assert validate_template(TEMPLATE, schemas=SCHEMAS) == []


def test_row11_template_text_is_escaped() -> None:
    text = render().files["templates/config.yaml"].decode()
    assert_only_safe_actions(text)
    assert_only_safe_actions(render().files["templates/account.yaml"].decode())
    assert '"k{{ "{{" }} .Values.missing.deep {{ "}}" }}":' in text
    assert 'lookup \\"v1\\"' in text
    assert '"-{{ tpl .Values.missing.deep . }}"' in text  # a Go string operand, never code


@pytest.mark.helm
def test_row11_and_row12_lint_clean(tmp_path: Path) -> None:
    injected = "x\n---\nkind: Secret\nmetadata: {name: {{ .Values.missing.deep }}}\n"
    chart = render({"extra": injected, "note": LOOKUP, "labels": {"t": FILES}})
    folder = write_chart(chart, tmp_path)
    assert_helm_lints(folder)
    assert max_severity(folder) < 2, helm_lint(folder)


@pytest.mark.helm
def test_lint_would_catch_executed_injection(tmp_path: Path) -> None:
    """The oracle works: the same text pasted as template code is an error."""
    folder = write_chart(render(), tmp_path)
    (folder / "templates" / "bad.yaml").write_text(f"a: {LOOKUP}\n")
    with pytest.raises(
        AssertionError, match=r"^Helm lint failed for .*: .*'Severity': 3, 'Path': 'templates/'"
    ):
        assert_helm_lints(folder)


def test_row12_values_never_enter_template_text() -> None:
    injected = "x\n---\nkind: Secret\nmetadata:\n  name: leak\n"
    chart = render({"extra": injected})
    for path, data in chart.files.items():
        if path.startswith("templates/"):
            assert b"leak" not in data, path
    values = yaml.safe_load(chart.files["values.yaml"])
    assert values["extra"] == injected


def test_rows_4_and_6_hazards_stay_strings() -> None:
    overrides = {"extra": "y", "mode": "1e3", "flag": "no"}
    chart = render(overrides)
    values = yaml.safe_load(chart.files["values.yaml"])  # PyYAML is a YAML 1.1 reader
    assert values["mode"] == "1e3"
    assert values["flag"] == "no"
    assert values["extra"] == "y"
    text = chart.files["templates/config.yaml"].decode()
    for index, hazard in enumerate(HAZARDS):
        assert f"h{index}: {json.dumps(hazard)}\n" in text
    for name in ("note", "mode", "flag"):
        assert f"{name}: {{{{ .Values.{name} | quote }}}}" in text


@pytest.mark.parametrize("text", HAZARDS)
def test_literal_scalars_are_quoted_when_ambiguous(text: str) -> None:
    assert yaml_scalar(text) == json.dumps(text)
    assert yaml.safe_load(f"a: {yaml_scalar(text)}") == {"a": text}


@pytest.mark.parametrize(
    "text",
    [
        "a\u2028b",
        "\ufeffx",
        "tab\there",
        "nul\x00",
        "del\x7f",
        "é ü 漢字",
        "a: b",
        "- x",
        "x y",
        "a :b",
        "a - b",
        "http://x.y/z",
        "a #b",
        "a ",
        "k: ",
        "@x",
        "`x",
        "!x",
        "&a",
        "*a",
        "%x",
        "|",
        ">",
        "?",
        "[a]",
        "{a}",
        "a,b",
        "'q'",
        '"d"',
    ],
)
def test_literal_scalars_round_trip(text: str) -> None:
    assert yaml.safe_load(f"a: {yaml_scalar(text)}") == {"a": text}
    assert yaml.safe_load(f"- {yaml_scalar(text)}") == [text]
    assert yaml.safe_load(f"{yaml_scalar(text)}: 1") == {text: 1}


def test_escape_text_leaves_no_delimiter_pairs() -> None:
    assert escape_text("{{{x}}}") == '{{ "{{" }}{x{{ "}}" }}}'
    assert escape_text("plain") == "plain"


@pytest.mark.parametrize("name", ["..", "a/b", "Foo_Bar", "x" * 54])
def test_row13_bad_chart_names_are_rejected(name: str) -> None:
    raw = {"product": name, "customer": "c", "environment": "e", "instance": "i", "version": "1"}
    with pytest.raises(
        InputError,
        match=rf"^invalid context: (product|chart name) '{re.escape(name)}",
    ):
        parse_context(raw)


def test_row13_an_empty_chart_name_part_is_asked_for() -> None:
    raw = {"product": "", "customer": "c", "environment": "e", "instance": "i", "version": "1"}
    with pytest.raises(InputError, match=r"^invalid context: product is required"):
        parse_context(raw)


def test_row13_long_chart_name_is_named() -> None:
    with pytest.raises(InputError, match="at most 53"):
        context(product="p" * 20, customer="c" * 20, environment="prod", instance="instance")


@pytest.mark.parametrize("version", ["v1", "1.0", "01.2.3", "1.2", "1.2.3.4", ""])
def test_row14_bad_versions_are_rejected(version: str) -> None:
    with pytest.raises(InputError, match="SemVer"):
        chart_version_for(context(), version)
    with pytest.raises(InputError, match="--chart-version"):
        chart_version_for(context(version=version or "x"), None)


def test_row14_build_metadata_is_kept_and_labelled_safely() -> None:
    chart = render_chart(
        TEMPLATE,
        context(),
        schemas=SCHEMAS,
        chart_version="1.2.3+build",
        generator_version="0",
    )
    assert_lints_once(chart)
    assert chart.version == "1.2.3+build"
    assert 'replace "+" "_"' in chart.files["templates/_helpers.tpl"].decode()


def test_row15_values_schema_refs_are_internal() -> None:
    template = parse_template(EXAMPLE.read_bytes(), source="web-service.yaml")
    chart = assert_lints_once(
        render_chart(template, context(), schemas=SCHEMAS, generator_version="0")
    )
    schema = json.loads(chart.files["values.schema.json"])
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(schema)
    assert refs, "the example binds objects, so definitions are referenced"
    for ref in refs:
        assert ref.startswith("#/definitions/"), ref
        assert ref.removeprefix("#/definitions/") in schema["definitions"]


def test_contexts_are_checked_again_before_rendering() -> None:
    from helmforge.core.contexts import Context

    hostile = Context(product='a"b', customer="c", environment="e", instance="i", version="1.0.0")
    with pytest.raises(InputError, match="product"):
        render_chart(TEMPLATE, hostile, schemas=SCHEMAS, generator_version="0")


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb"])
def test_lone_surrogates_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match=r"values\.extra"):
        render({"extra": text})
    with pytest.raises(InputError, match=r"values\.labels\.x"):
        render({"labels": {"x" + text: "y"}})
