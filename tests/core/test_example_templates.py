"""Every bundled example template renders for several contexts, validates, and lints in Helm."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.rendering import render_chart
from helmforge.core.errors import InputError
from helmforge.core.templates.parsing import parse_template, validate_template
from helmforge.core.yaml_codec import load_single
from tests.support.charts import REPO, context, write_chart
from tests.support.helm import assert_helm_lints

EXAMPLES = sorted((REPO / "examples" / "templates").glob("*.yaml"))
CONTEXTS = [
    {"environment": "dev", "customer": "globex"},
    {"environment": "uat", "customer": "acme"},
    {"environment": "prod", "customer": "acme"},
]
# values a required parameter gets where no layer sets it
OVERRIDES: dict[str, dict[str, object]] = {
    "stateful-store.yaml": {"password": "s3cret {{ x }}"},
    "config-edge-cases.yaml": {"code": "XYZ"},
}


def _render(example: Path, changes: dict[str, str]) -> dict[str, bytes]:
    template = parse_template(example.read_bytes(), source=example.name)
    chart = render_chart(
        template,
        context(**changes),
        schemas=load_schema_set(template.kubernetes_version),
        overrides=OVERRIDES.get(example.name, {}),
        generator_version="0.0.0-test",
    )
    return dict(chart.files)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates_without_errors(example: Path) -> None:
    template = parse_template(example.read_bytes(), source=example.name)
    schemas = load_schema_set(template.kubernetes_version)
    errors = [p for p in validate_template(template, schemas=schemas) if p.is_error]
    assert errors == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("changes", CONTEXTS, ids=lambda c: c["environment"])
def test_example_values_match_schema_and_typos_fail(example: Path, changes: dict[str, str]) -> None:
    files = _render(example, changes)
    schema = json.loads(files["values.schema.json"])
    values = load_single(files["values.yaml"], source="values.yaml").data
    jsonschema.Draft7Validator(schema).validate(values)
    misspelt = {**values, "replicaCuont": 1}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(misspelt))
    first = next(iter(values))
    wrong = (
        {**values, first: [object.__name__]}
        if not isinstance(values[first], list)
        else {
            **values,
            first: "not a list",
        }
    )
    assert list(jsonschema.Draft7Validator(schema).iter_errors(wrong))


@pytest.mark.helm
@pytest.mark.xdist_group("example-templates-helm")
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("changes", CONTEXTS, ids=lambda c: c["environment"])
def test_example_charts_lint(example: Path, changes: dict[str, str], tmp_path: Path) -> None:
    template = parse_template(example.read_bytes(), source=example.name)
    chart = render_chart(
        template,
        context(**changes),
        schemas=load_schema_set(template.kubernetes_version),
        overrides=OVERRIDES.get(example.name, {}),
        generator_version="0.0.0-test",
    )
    assert_helm_lints(write_chart(chart, tmp_path))


def test_scalars_in_string_fields_are_written_quoted() -> None:
    files = _render(REPO / "examples" / "templates" / "stateful-store.yaml", CONTEXTS[2])
    config = files["templates/config.yaml"].decode()
    assert 'REPLICAS: {{ list (.Values.replicas | int64) | join "" | quote }}' in config
    assert 'DEBUG: {{ list .Values.debug | join "" | quote }}' in config
    schema = json.loads(files["values.schema.json"])
    assert schema["properties"]["replicas"]["type"] == "integer"
    assert schema["properties"]["debug"]["type"] == "boolean"
    assert schema["properties"]["ratio"]["type"] == "number"


def test_wrong_type_names_the_field_the_type_comes_from() -> None:
    example = REPO / "examples" / "templates" / "stateful-store.yaml"
    template = parse_template(example.read_bytes(), source=example.name)
    with pytest.raises(InputError) as caught:
        render_chart(
            template,
            context(environment="dev"),
            schemas=load_schema_set(template.kubernetes_version),
            overrides={"replicas": "abc"},
            generator_version="0.0.0-test",
        )
    assert "'abc' is not of type 'integer' (from spec.replicas of statefulset)" in str(caught.value)
