"""The built-in draft-07 validator, against jsonschema and on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.errors import InputError
from helmforge.core.schemas.validation import Validator, check_format, schema_problems
from helmforge.core.templates.parsing import parse_template
from helmforge.core.templates.value_schemas import values_schema
from tests.support.charts import EXAMPLE

SCHEMAS = load_schema_set("1.31")
EXAMPLE_SCHEMA = values_schema(
    parse_template(EXAMPLE.read_bytes(), source="web-service.yaml"), schemas=SCHEMAS
)


def without_formats(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_formats(v) for k, v in node.items() if k != "format"}
    if isinstance(node, list):
        return [without_formats(item) for item in node]
    return node


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "on", "100m", "ClusterIP", "x.example.com", "http", "50%"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "value", "limits", "cpu", "memory", "host", "port", "x"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=12,
)
example_like = st.fixed_dictionaries(
    {},
    optional={
        "replicaCount": json_values,
        "image": st.dictionaries(st.sampled_from(["tag", "repository", "tga"]), json_values),
        "env": st.lists(
            st.dictionaries(st.sampled_from(["name", "value", "valueFrom"]), json_values),
            max_size=2,
        ),
        "resources": st.dictionaries(
            st.sampled_from(["limits", "requests", "claims"]), json_values, max_size=2
        ),
        "service": st.dictionaries(st.sampled_from(["type", "port"]), json_values),
        "ingress": st.dictionaries(st.sampled_from(["host", "className"]), json_values),
        "podDisruptionBudget": st.dictionaries(st.just("minAvailable"), json_values),
        "other": json_values,
    },
)


@settings(max_examples=150)
@given(instance=example_like)
def test_agrees_with_jsonschema_on_the_example_schema(instance: dict[str, Any]) -> None:
    schema = without_formats(EXAMPLE_SCHEMA)
    expected = jsonschema.Draft7Validator(schema).is_valid(instance)
    assert Validator(schema).is_valid(instance) == expected, json.dumps(instance)


SMALL_SCHEMAS = [
    {"type": "integer", "minimum": 1, "maximum": 10},
    {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5},
    {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
    {"enum": [1, "1", True, None, [1], {"a": 1}]},
    {"const": 0},
    {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
    {"type": "array", "items": [{"type": "string"}], "additionalItems": False},
    {"type": "array", "contains": {"type": "integer"}},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "boolean"}}},
    {
        "type": "object",
        "patternProperties": {"^x": {"type": "integer"}},
        "additionalProperties": False,
    },
    {"type": "object", "minProperties": 1, "maxProperties": 2, "propertyNames": {"maxLength": 2}},
    {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    {"anyOf": [{"type": "string"}, {"minimum": 3}]},
    {"allOf": [{"minimum": 1}, {"maximum": 3}]},
    {"not": {"type": "null"}},
    {"if": {"type": "integer"}, "then": {"minimum": 5}, "else": {"type": "string"}},
    {"type": ["string", "null"]},
    {
        "definitions": {"d": {"type": "integer"}},
        "type": "array",
        "items": {"$ref": "#/definitions/d"},
    },
]
anything = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 20) | st.floats(-20, 20) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "x1", "xy", "abc"]), children, max_size=3)
    ),
    max_leaves=6,
)


@pytest.mark.parametrize("schema", SMALL_SCHEMAS, ids=lambda schema: json.dumps(schema)[:40])
@settings(max_examples=60)
@given(instance=anything)
def test_agrees_with_jsonschema_keyword_by_keyword(schema: dict[str, Any], instance: Any) -> None:
    expected = jsonschema.Draft7Validator(schema).is_valid(instance)
    assert Validator(schema).is_valid(instance) == expected


def test_messages_name_paths_and_valid_keys() -> None:
    violations = Validator(EXAMPLE_SCHEMA).errors(
        {"replicaCont": 1, "image": {"tag": 3}, "ingress": {"host": "bad host"}}
    )
    found = {(v.path, v.keyword): v.message for v in violations}
    required = Validator(EXAMPLE_SCHEMA).errors({})
    assert [(v.path, v.message) for v in required] == [((), "'ingress' is a required property")]
    assert found[((), "additionalProperties")].startswith("unknown key(s) replicaCont; valid: ")
    assert found[(("image", "tag"), "type")] == "3 is not of type 'string'"
    assert found[(("ingress", "host"), "format")] == "'bad host' is not a 'hostname'"


@pytest.mark.parametrize(
    ("schema", "instance", "message"),
    [
        (
            {"type": "integer", "minimum": 1, "enum": [1, 2]},
            "three",
            "'three' is not of type 'integer'",
        ),
        ({"enum": ["a", "b"]}, "c", "'c' is not one of ['a', 'b']"),
        ({"const": 0}, 1, "0 was expected, not 1"),
        ({"minimum": 2}, 1, "1 is less than the minimum of 2"),
        ({"exclusiveMaximum": 2}, 2, "2 is at or above the exclusive maximum 2"),
        ({"multipleOf": 0.5}, 0.25, "0.25 is not a multiple of 0.5"),
        ({"maxLength": 2}, "abc", "'abc' is longer than 2"),
        ({"pattern": "^[a-z]+$"}, "A", "'A' does not match '^[a-z]+$'"),
        ({"minItems": 2}, [1], "needs at least 2 items"),
        ({"maxProperties": 1}, {"a": 1, "b": 2}, "allows at most 1 keys"),
        (
            {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            [1],
            "[1] matches none of integer, string",
        ),
        ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 1, "1 matches more than one option"),
        ({"not": {"type": "null"}}, None, "None must not match 'not'"),
        ({"uniqueItems": True}, [1, 1], "repeats an earlier item"),
        ({"contains": {"type": "integer"}}, ["a"], "no item matches 'contains'"),
        (False, 1, "no value is allowed here"),
    ],
)
def test_each_keyword_has_its_message(schema: Any, instance: Any, message: str) -> None:
    assert [v.message for v in Validator(schema).errors(instance)] == [message]


FORMAT_SAMPLES = [
    "bad host",
    "a_b",
    "10.0.0.256",
    "1::2::3",
    "a.b.c",
    "2026-13-01",
    "no scheme",
    "(unclosed",
    "x",
    "12:00",
    "../a",
    "{x",
    "/a~2",
    "P1",
    "not-a-uuid",
    "",
]


@pytest.mark.parametrize(
    ("instance", "path", "message"),
    [
        ({"a": float("nan")}, ("a",), "nan is not a finite number"),
        ({"a": [1, float("-inf")]}, ("a", 1), "-inf is not a finite number"),
        ({1: "x"}, (), "key 1 is not a string"),
        ({"a": {1, 2}}, ("a",), "{1, 2} is not a JSON value"),
        ({"a": b"x"}, ("a",), "b'x' is not a JSON value"),
    ],
)
def test_values_json_cannot_hold_are_violations_not_crashes(
    instance: Any, path: tuple[Any, ...], message: str
) -> None:
    # The readers never give these (YAML reads .nan as text, the API refuses NaN); values
    # built in Python might. jsonschema-rs reads NaN as null, so it fails where numbers go.
    numbers = {"type": ["number", "array"], "items": {"type": "number"}}
    validator = Validator({"type": "object", "additionalProperties": numbers})
    assert not validator.is_valid(instance)
    assert [(v.path, v.message) for v in validator.errors(instance)] == [(path, message)]


@pytest.mark.parametrize(
    "name",
    [
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "email",
        "idn-email",
        "date",
        "date-time",
        "uri",
        "regex",
        "time",
        "iri",
        "iri-reference",
        "uri-reference",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "uuid",
        "duration",
        "made-up",
    ],
)
def test_format_handling_stays_helms(name: str) -> None:
    # Helm asserts the formats check_format knows; every other one is only an annotation.
    validator = Validator({"format": name})
    for sample in FORMAT_SAMPLES:
        assert validator.is_valid(sample) == check_format(name, sample), (name, sample)


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("hostname", "a-b.example.com", "a_b.example.com"),
        ("ipv4", "10.0.0.1", "10.0.0.256"),
        ("ipv6", "::1", "1::2::3"),
        ("email", "a@b.c", "a.b.c"),
        ("date", "2026-11-30", "2026-13-01"),
        ("date-time", "2026-11-30T20:00:00Z", "2026-11-30 25:00"),
        ("uri", "https://x.io/a", "no scheme"),
        ("regex", "^a+$", "(unclosed"),
    ],
)
def test_formats(name: str, good: str, bad: str) -> None:
    assert check_format(name, good)
    assert not check_format(name, bad)
    assert check_format(name, 3)  # formats apply to strings only
    assert check_format("unknown-format", bad)


def test_self_reference_terminates() -> None:
    schema = {
        "definitions": {"n": {"type": "object", "properties": {"c": {"$ref": "#/definitions/n"}}}}
    }
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(50):
        node["c"] = {}
        node = node["c"]
    assert Validator({**schema, "$ref": "#/definitions/n"}).is_valid(deep)
    loop = Validator({"definitions": {"a": {"$ref": "#/definitions/a"}}, "$ref": "#/definitions/a"})
    assert loop.is_valid(1) in (True, False)  # it answers; a self-reference constrains nothing


def test_schema_problems() -> None:
    assert schema_problems({"minimum": 1, "format": "hostname", "enum": ["a"]}) == []
    problems = dict(
        schema_problems(
            {"maximun": 3, "minimum": "1", "type": "str", "pattern": "(", "items": {"oneOf": []}}
        )
    )
    assert problems[("maximun",)] == "unknown JSON schema keyword 'maximun'"
    assert problems[("minimum",)] == "minimum must be a number"
    assert "type must be one of" in problems[("type",)]
    assert "not a valid regular expression" in problems[("pattern",)]
    assert "non-empty list" in problems[("items", "oneOf")]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"^(a)\1$", "a backreference"),
        (r"^(?P<n>a)(?P=n)$", "syntax outside ECMA-262/RE2"),
        (r"^(?=a)a$", "lookaround"),
        (r"(?<!x)y", "lookaround"),
    ],
)
def test_patterns_needing_backtracking_are_refused_saying_why(pattern: str, why: str) -> None:
    for schema, where in (
        ({"pattern": pattern}, ("pattern",)),
        ({"patternProperties": {pattern: {}}}, ("patternProperties", pattern)),
    ):
        problems = dict(schema_problems(schema))
        assert why in problems[where], problems
        assert "linear-time matching does not support" in problems[where]
    with pytest.raises(InputError, match="values schema cannot be compiled"):
        Validator({"pattern": pattern})


def test_redos_pattern_runs_on_the_linear_engine() -> None:
    # The defect: Python's backtracking re took 28 s for this and held the GIL. A validator
    # that accepts this pattern but refuses backreferences cannot be a backtracking engine.
    with pytest.raises(InputError, match="values schema cannot be compiled"):
        Validator({"pattern": r"^(a+)\1$"})
    assert schema_problems({"pattern": "^(a+)+$"}) == []
    validator = Validator({"pattern": "^(a+)+$"})
    assert validator.is_valid("a" * 28)
    assert [v.keyword for v in validator.errors("a" * 28 + "!")] == ["pattern"]


REDOS_CHILD = """
from helmforge.core.schemas.validation import Validator
validator = Validator({"type": "object", "properties": {"p": {"pattern": "^(a+)+$"}}})
for count in (28, 10_000, 1_000_000):
    assert not validator.is_valid({"p": "a" * count + "!"})
print("answered")
"""


def test_redos_value_is_answered_by_a_fresh_process() -> None:
    # Backtracking needs 2**n steps: 28 a's took 28 s here, 10,000 would outlast any machine,
    # so a bound hundreds of times a linear run's cost cannot be met by mistake on a slow one.
    done = subprocess.run(
        [sys.executable, "-c", REDOS_CHILD],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip() == "answered", done.stderr
