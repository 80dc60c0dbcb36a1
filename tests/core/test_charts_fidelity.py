"""Literal text and values come out of Helm exactly as they went in.

Helm itself cannot render here without a cluster, so ``simulate_helm`` executes the handful
of action shapes helmforge writes (``assert_only_safe_actions`` proves there are no others);
the result is read with PyYAML, a YAML 1.1 reader, and compared with the intended object.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.rendering import render_chart
from helmforge.core.templates.parsing import parse_template
from helmforge.core.yaml_codec import dump_yaml
from tests.support.charts import FAKE_LABELS, assert_only_safe_actions, context, simulate_helm

SCHEMAS = load_schema_set("1.31")
# Any text, except that "${" would start a placeholder.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30).map(
    lambda text: text.replace("${", "$ {")
)
keys = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True)
tricky = st.sampled_from(
    [
        "on", "0755", "1.10", "1e3", "01:30", "~", "", "{{ .Values.missing.deep }}",
        '{{ lookup "v1" "Secret" "" "" }}', "x\n---\nkind: Secret\n", "a\n  b\n", "}}{{",
        "line\n\n", " lead", "trail ", "#", "- x", "a: b", "\u2028", "\x85", "\t",
    ]
)  # fmt: skip


def render_config(data: dict[str, str], annotation: str, greeting: Any) -> tuple[Any, Any]:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "${ctx.name}", "annotations": {"note": annotation}},
        "data": {**data, "greeting": "${values.greeting}", "mixed": "<${values.greeting}>"},
    }
    document = {
        "apiVersion": "helmforge.dev/v1",
        "kind": "Template",
        "metadata": {"name": "fidelity", "version": "1.0.0"},
        "spec": {
            "kubernetesVersion": "1.31",
            "values": {"greeting": {"default": "hi"}},
            "resources": [{"id": "config", "manifest": manifest}],
        },
    }
    template = parse_template(dump_yaml(document), source="fidelity.yaml")
    chart = render_chart(
        template,
        context(),
        schemas=SCHEMAS,
        overrides={"greeting": greeting},
        generator_version="0",
    )
    text = chart.files["templates/config.yaml"].decode()
    assert_only_safe_actions(text)
    values = yaml.safe_load(chart.files["values.yaml"])
    assert values["greeting"] == greeting
    rendered = yaml.safe_load(simulate_helm(text, values))
    expected = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "ledger-acme-prod-a1",
            "labels": FAKE_LABELS,
            "annotations": {"note": annotation},
        },
        "data": {**data, "greeting": greeting, "mixed": f"<{greeting}>"},
    }
    return rendered, expected


@settings(max_examples=150)
@given(
    data=st.dictionaries(keys, texts | tricky, max_size=4),
    annotation=texts | tricky,
    greeting=texts | tricky,
)
def test_literal_text_and_values_survive_exactly(
    data: dict[str, str], annotation: str, greeting: str
) -> None:
    rendered, expected = render_config(data, annotation, greeting)
    assert rendered == expected


def test_known_hazards_survive_exactly() -> None:
    hazards = ["on", "{{ tpl . }}", "x\n---\nkind: Secret\n", "a\n  b\n", " lead\nx", "é\u2028"]
    data = {f"k{index}": text for index, text in enumerate(hazards)}
    rendered, expected = render_config(data, '{{ .Files.Get "x" }}', "yes")
    assert rendered == expected
