"""Property tests: random contexts and override values never crash the engine, always lint,
and identical inputs give identical bytes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.rendering import render_chart
from helmforge.core.contexts import Context
from helmforge.core.errors import InputError
from helmforge.core.templates.parsing import parse_template
from tests.support.charts import EXAMPLE, assert_only_safe_actions, write_chart
from tests.support.helm import assert_helm_lints

SCHEMAS = load_schema_set("1.31")
TEMPLATE = parse_template(EXAMPLE.read_bytes(), source="web-service.yaml")

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
versions = st.one_of(
    st.from_regex(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,12}", fullmatch=True),
)
contexts = st.builds(
    Context,
    product=labels,
    customer=st.sampled_from(["acme", "globex", "initech"]) | labels,
    environment=st.sampled_from(["dev", "test", "uat", "prod"]) | labels,
    instance=labels,
    version=versions,
)
# Text including YAML 1.1 hazards, Go template delimiters, document markers and odd characters.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "on",
            "y",
            "no",
            "0755",
            "1.10",
            "1e3",
            "01:30",
            "~",
            "",
            " ",
            "- x",
            "a: b",
            "#c",
            "{{ .Values.missing.deep }}",
            '{{ lookup "v1" "Secret" "" "" }}',
            "}}{{",
            "{{-",
            "x\n---\nkind: Secret\n",
            "\u2028",
            "\ufeff",
            "\x85",
            "'\"\\",
        ]
    ),
)
overrides = st.fixed_dictionaries(
    {},
    optional={
        "replicaCount": st.integers(min_value=0, max_value=2**31 - 1) | hostile_text,
        "greeting": hostile_text,
        "logLevel": st.sampled_from(["debug", "info", "warn", "error"]) | hostile_text,
        "image": st.fixed_dictionaries(
            {}, optional={"tag": hostile_text, "repository": hostile_text}
        ),
        "ingress": st.fixed_dictionaries({"host": st.sampled_from(["a.example.com", "x"])}),
        "env": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["A", "B_1"]), "value": hostile_text}),
            max_size=3,
        ),
        "podDisruptionBudget": st.fixed_dictionaries(
            {"minAvailable": st.integers(min_value=0, max_value=10) | st.sampled_from(["50%", "1"])}
        ),
    },
)


def try_render(context: Context, values: dict[str, Any], chart_version: str | None = None) -> Any:
    try:
        return render_chart(
            TEMPLATE,
            context,
            schemas=SCHEMAS,
            overrides=values,
            chart_version=chart_version,
            generator_version="0.1.0",
        )
    except InputError:
        return None


@settings(max_examples=100)
@given(context=contexts, values=overrides)
def test_never_crashes_and_is_deterministic(context: Context, values: dict[str, Any]) -> None:
    first = try_render(context, values, "1.0.0")
    second = try_render(context, json.loads(json.dumps(values)), "1.0.0")
    assert first == second
    if first is None:
        return
    schema = json.loads(first.files["values.schema.json"])
    written = yaml.safe_load(first.files["values.yaml"])
    jsonschema.validate(written, schema, cls=jsonschema.Draft7Validator)
    for key, value in values.items():
        if not isinstance(value, dict):
            assert written[key] == value
    for path, data in first.files.items():
        if path.startswith("templates/") and path.endswith(".yaml"):
            assert_only_safe_actions(data.decode())


@pytest.mark.helm
@pytest.mark.slow
@settings(max_examples=15)
@given(context=contexts, values=overrides)
def test_rendered_charts_always_lint(context: Context, values: dict[str, Any]) -> None:
    chart = try_render(context, values, "1.0.0")
    if chart is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        assert_helm_lints(write_chart(chart, Path(folder)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
parameter_names = st.sampled_from(
    ["replicaCount", "image", "env", "resources", "ingress", "service", "autoscaling", "x"]
)


@settings(max_examples=150)
@given(values=st.dictionaries(parameter_names | st.text(max_size=8), json_values, max_size=4))
def test_any_override_structure_is_accepted_or_an_input_error(values: dict[str, Any]) -> None:
    from tests.support.charts import context

    try:
        chart = render_chart(
            TEMPLATE, context(), schemas=SCHEMAS, overrides=values, generator_version="0"
        )
    except InputError:
        return
    assert yaml.safe_load(chart.files["values.yaml"]) is not None
