"""validate_template: resources against the Kubernetes schema of spec.kubernetesVersion."""

from __future__ import annotations

import pytest

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.errors import InputError
from helmforge.core.templates.parsing import parse_template, validate_template
from tests.core.test_templates import MINIMAL
from tests.support.charts import EXAMPLE

SCHEMAS = load_schema_set("1.31")


def problems(text: str) -> list[str]:
    template = parse_template(text, source="t.yaml")
    return [str(p) for p in validate_template(template, schemas=SCHEMAS)]


def test_example_is_valid() -> None:
    template = parse_template(EXAMPLE.read_bytes(), source="web-service.yaml")
    assert validate_template(template, schemas=SCHEMAS) == []


def test_schema_violations_name_line_and_path() -> None:
    text = MINIMAL.replace("image: nginx}]", "image: nginx, imagePullPolicy: 3, colour: red}]")
    found = problems(text)
    assert any(
        "t.yaml:22: spec.resources[0].manifest.spec.template.spec.containers[0]: "
        "Deployment deployment: unknown field(s) colour" in m
        for m in found
    ), found
    assert any("imagePullPolicy" in m and "is not of type 'string'" in m for m in found), found


def test_defaults_are_checked_through_the_bound_field() -> None:
    found = problems(MINIMAL.replace("{default: 1,", "{default: three,"))
    assert any(
        "spec.values.replicas.default: replicas: 'three' is not of type 'integer'" in m
        or "'three' is not of type 'integer'" in m
        for m in found
    ), found


def test_unknown_kind_is_a_warning() -> None:
    text = MINIMAL.replace("apiVersion: apps/v1\n", "apiVersion: example.com/v1\n").replace(
        "kind: Deployment", "kind: Widget"
    )
    template = parse_template(text, source="t.yaml")
    (problem,) = validate_template(template, schemas=SCHEMAS)
    assert problem.severity == "warning"
    assert not problem.is_error
    assert "Widget (example.com/v1) is not in the Kubernetes 1.31 schemas" in problem.message
    assert problem.location.line == 14


def test_conflicting_types_for_one_parameter() -> None:
    text = MINIMAL.replace("image: nginx}]", "image: nginx, tty: '${values.replicas}'}]")
    found = problems(text)
    assert any(
        "t.yaml:22: spec.resources[0].manifest.spec.template.spec.containers[0].tty: "
        "parameter replicas is bound to fields of different types (integer and boolean" in m
        for m in found
    ), found


def test_number_in_a_string_field_is_written_quoted_not_a_conflict() -> None:
    # PORT: ${values.port} in a ConfigMap plus containerPort: ${values.port} is one integer
    # parameter; the string field gets it quoted (regression: was a type conflict).
    text = MINIMAL.replace("image: nginx}]", "image: nginx, workingDir: '${values.replicas}'}]")
    assert problems(text) == []


def test_layer_values_are_checked() -> None:
    text = MINIMAL.replace(
        "  resources:\n",
        "  layers:\n    - when: {environment: prod}\n"
        "      values: {replicas: many}\n  resources:\n",
    )
    found = problems(text)
    assert any("t.yaml:12: spec.layers[0].values.replicas" in m for m in found), found


def test_object_names_must_be_valid() -> None:
    found = problems(MINIMAL.replace('metadata: {name: "${ctx.name}"}', "metadata: {name: Web_1}"))
    assert any(
        "t.yaml:15: spec.resources[0].manifest.metadata.name: Deployment deployment: "
        "name 'Web_1' is not a DNS-1123 subdomain" in m
        for m in found
    ), found


def test_int_or_string_parameter_in_a_string_field_is_quoted() -> None:
    # a port bound to an int-or-string field and also written as a container argument
    text = MINIMAL.replace(
        "image: nginx}]",
        "image: nginx, args: ['${values.port}'], "
        "livenessProbe: {tcpSocket: {port: '${values.port}'}}}]",
    ).replace("  resources:\n", "    port: {default: 8080}\n  resources:\n", 1)
    assert problems(text) == []


def test_secret_data_parameter_must_be_base64() -> None:
    # Secret data is base64 (format byte): plain text there is refused before apply time
    secret = (
        "    - id: secret\n      manifest:\n        apiVersion: v1\n        kind: Secret\n"
        "        metadata: {name: s}\n        data: {pw: '${values.pw}'}\n"
    )
    text = MINIMAL.replace(
        "  resources:\n", "    pw: {default: plain text}\n  resources:\n" + secret
    )
    assert any("pw: 'plain text' does not match" in m for m in problems(text))
    assert problems(text.replace("plain text", "aHVudGVyMg==")) == []


def test_unquoted_placeholder_in_flow_mapping_gets_a_hint() -> None:
    text = MINIMAL.replace("image: nginx}]", "image: ${values.image}}]")
    with pytest.raises(InputError) as caught:
        parse_template(text, source="t.yaml")
    assert "a placeholder must be quoted" in str(caught.value)


def test_when_value_that_can_never_match_is_an_error() -> None:
    text = EXAMPLE.read_text().replace(
        "- when: {environment: prod}\n", "- when: {environment: Prod}\n", 1
    )
    with pytest.raises(InputError) as caught:
        parse_template(text, source="t.yaml")
    assert "when.environment: 'Prod' can never match" in str(caught.value)
