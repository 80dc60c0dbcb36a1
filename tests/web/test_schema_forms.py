"""The values form built from a JSON schema, and submissions read back into typed values."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from helmforge.web.schema_forms import build_fields, read_submission

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["ingress"],
    "properties": {
        "global": {"type": "object"},
        "replicaCount": {"type": "integer", "minimum": 1, "description": "Pods to run"},
        "ratio": {"type": "number"},
        "debug": {"type": "boolean"},
        "logLevel": {"enum": ["debug", "info"]},
        "args": {"type": "array", "items": {"type": "string"}},
        "resources": {"type": "object"},
        "ingress": {
            "type": "object",
            "required": ["host"],
            "additionalProperties": False,
            "properties": {"host": {"type": "string", "format": "hostname"}},
        },
    },
}


def _by_name(fields: list[Any]) -> dict[str, Any]:
    found = {}
    for field in fields:
        found[field.name] = field
        found.update(_by_name(field.children))
    return found


def test_fields_follow_types_enums_required_and_nesting() -> None:
    values = {"replicaCount": 2, "debug": True, "args": ["a", "b"], "resources": {"cpu": "1"}}
    fields = _by_name(build_fields(SCHEMA, values))
    assert "v.global" not in fields  # Helm's reserved key is not a parameter
    assert fields["v.replicaCount"].kind == "integer"
    assert fields["v.replicaCount"].value == "2"
    assert fields["v.replicaCount"].description == "Pods to run"
    assert fields["v.debug"].kind == "boolean"
    assert fields["v.debug"].value == "true"
    assert fields["v.logLevel"].options == ("debug", "info")
    assert fields["v.ingress"].kind == "group"
    assert fields["v.ingress"].required
    assert fields["v.ingress.host"].required
    assert fields["v.ingress.host"].input_format == "hostname"
    assert fields["v.args"].kind == "list"
    assert [c.value for c in fields["v.args"].children] == ["a", "b", ""]  # one blank slot
    assert fields["v.resources"].kind == "yaml"
    assert fields["v.resources"].value == 'cpu: "1"'


def test_submission_is_typed_and_empty_inputs_are_left_out() -> None:
    values, errors = read_submission(
        SCHEMA,
        {
            "v.replicaCount": "3",
            "v.ratio": "0.5",
            "v.debug": "false",
            "v.logLevel": "info",
            "v.args.0": "x",
            "v.args.1": "",
            "v.resources": "limits: {memory: 1Gi}",
            "v.ingress.host": "shop.example.com",
        },
    )
    assert errors == {}
    assert values == {
        "replicaCount": 3,
        "ratio": 0.5,
        "debug": False,
        "logLevel": "info",
        "args": ["x"],
        "resources": {"limits": {"memory": "1Gi"}},
        "ingress": {"host": "shop.example.com"},
    }


def test_every_bad_input_is_explained_under_its_field() -> None:
    _, errors = read_submission(
        SCHEMA,
        {
            "v.replicaCount": "three",
            "v.ratio": "half",
            "v.debug": "maybe",
            "v.logLevel": "loud",
            "v.resources": "a: [",
            "v.ingress.host": "x",
        },
    )
    assert errors["v.replicaCount"] == "'three' is not a whole number"
    assert errors["v.ratio"] == "'half' is not a number"
    assert errors["v.debug"] == "'maybe' is not true or false"
    assert errors["v.logLevel"] == "'loud' is not one of: debug, info"
    assert errors["v.resources"].startswith("not valid YAML")


def test_schema_errors_land_on_the_deepest_field() -> None:
    _, errors = read_submission(SCHEMA, {"v.replicaCount": "0"})
    assert errors["v.replicaCount"] == "0 is less than the minimum of 1"
    assert errors["v.ingress.host"] == "a value is required"


@given(st.integers(min_value=1, max_value=10**12))
def test_integers_read_back_as_written(number: int) -> None:
    values, errors = read_submission(
        SCHEMA, {"v.replicaCount": str(number), "v.ingress.host": "h.example.com"}
    )
    assert errors == {}
    assert values["replicaCount"] == number


@given(st.text(min_size=1).filter(lambda text: text.strip() != ""))
def test_any_text_in_a_number_field_never_crashes(text: str) -> None:
    values, errors = read_submission(SCHEMA, {"v.ratio": text, "v.ingress.host": "h.example.com"})
    assert ("v.ratio" in errors) != ("ratio" in values)


def test_non_finite_and_overlong_numbers_in_form_fields_are_refused() -> None:
    for text in ("nan", "NaN", "inf", "-Infinity", "1.5e+99999", ".inf"):
        values, errors = read_submission(
            SCHEMA, {"v.ratio": text, "v.ingress.host": "h.example.com"}
        )
        assert "ratio" not in values
        assert "not a finite number" in errors["v.ratio"], (text, errors)
    _, errors = read_submission(
        SCHEMA,
        {
            "v.replicaCount": "9" * 5000,
            "v.ratio": "1" * 5000,
            "v.resources": "cpu: !!float nan\nmemory: " + "1" * 5000,
            "v.ingress.host": "h.example.com",
        },
    )
    assert errors["v.replicaCount"] == "an integer of 5000 digits is too long (at most 100)"
    assert "not a finite number" in errors["v.resources"]


def test_redos_pattern_in_a_form_is_answered_on_the_linear_engine() -> None:
    # The form checks with jsonschema, whose re backtracks: ^(a+)+$ against 28 a's and "!"
    # took 28 s. A backreference is reported instead of run, so the engine is the linear one.
    backtracking = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": r"(a)\1"}},
    }
    _, errors = read_submission(backtracking, {"v.code": "aa"})
    assert "cannot run in linear time" in errors["v.code"]
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    _, errors = read_submission(schema, {"v.code": "a" * 28 + "!"})
    assert errors["v.code"] == f"'{'a' * 28}!' does not match '^(a+)+$'"
    _, errors = read_submission(schema, {"v.code": "a" * 10_000 + "!"})
    assert errors["v.code"].startswith("'aaaa")
