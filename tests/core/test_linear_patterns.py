"""jsonschema (Python) with linear-time patterns: the paths that still use jsonschema's error
objects (Kubernetes/CRD messages, the web form, lint) cannot be frozen by a ReDoS pattern."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.patterns import linear_search, with_linear_patterns

LINEAR_DRAFT7 = with_linear_patterns(jsonschema.Draft7Validator)
SCHEMAS = [
    {"type": "string", "pattern": "^[a-z]+[0-9]?$"},
    {"pattern": "b"},
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}}},
    {"type": "object", "patternProperties": {"^x": {}}, "additionalProperties": False},
    {
        "type": "object",
        "properties": {"a": {}},
        "patternProperties": {"[0-9]$": {"type": "string"}},
        "additionalProperties": {"type": "boolean"},
    },
    {"type": "object", "properties": {"a": {}}, "additionalProperties": False},
]
anything = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "ab", "ab1", "B", "xb"]),
    lambda children: st.dictionaries(
        st.sampled_from(["a", "b", "x", "x1", "y2", "xy"]), children, max_size=3
    ),
    max_leaves=5,
)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: json.dumps(schema)[:40])
@settings(max_examples=60)
@given(instance=anything)
def test_agrees_with_jsonschema_on_ordinary_patterns(schema: dict[str, Any], instance: Any) -> None:
    expected = sorted(e.message for e in jsonschema.Draft7Validator(schema).iter_errors(instance))
    found = sorted(e.message for e in LINEAR_DRAFT7(schema).iter_errors(instance))
    assert (found == []) == (expected == []), (found, expected)


def test_patterns_needing_backtracking_are_reported_not_run() -> None:
    assert linear_search(r"(a)\1", "aa") is None
    (error,) = LINEAR_DRAFT7({"pattern": r"(a)\1"}).iter_errors("aa")
    assert "cannot run in linear time" in error.message
    (error,) = LINEAR_DRAFT7({"patternProperties": {"(?=a)": {}}}).iter_errors({"a": 1})
    assert "cannot run in linear time" in error.message


def test_redos_pattern_runs_on_the_linear_engine() -> None:
    # Python's re needs 2**n steps here (28 a's: 28 s); the linear engine does not refuse
    # ^(a+)+$ but does refuse a backreference, so it is not a backtracking engine.
    assert linear_search(r"^(a+)\1$", "aa") is None
    assert linear_search("^(a+)+$", "a" * 28) is True
    assert linear_search("^(a+)+$", "a" * 28 + "!") is False


REDOS_CHILD = """
import jsonschema
from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.patterns import with_linear_patterns
value = "a" * 10_000 + "!"
schema = {"type": "object", "properties": {"p": {"pattern": "^(a+)+$"}},
          "patternProperties": {"^(a+)+$": {}}, "additionalProperties": False}
validator = with_linear_patterns(jsonschema.Draft7Validator)(schema)
errors = list(validator.iter_errors({"p": value, value: 1}))
assert len(errors) == 2, errors
crd = SchemaSet(kubernetes_version="1.31", definitions={"io.example.v1.Thing": {
    "type": "object", "x-kubernetes-group-version-kind": [
        {"group": "example.io", "version": "v1", "kind": "Thing"}],
    "properties": {"spec": {"type": "string", "pattern": "^(a+)+$"}}}})
found = crd.validate({"apiVersion": "example.io/v1", "kind": "Thing", "spec": value})
assert [v.path for v in found] == [("spec",)], found
print("answered")
"""


def test_redos_values_are_answered_by_a_fresh_process() -> None:
    # 10,000 a's would take Python's backtracking re longer than any machine lasts, so this
    # generous bound cannot be met by a backtracking engine, however fast the machine.
    done = subprocess.run(
        [sys.executable, "-c", REDOS_CHILD],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip() == "answered", done.stderr


def test_kubernetes_messages_keep_their_wording() -> None:
    schemas = SchemaSet(
        kubernetes_version="1.31",
        definitions={
            "io.example.v1.Thing": {
                "type": "object",
                "x-kubernetes-group-version-kind": [
                    {"group": "example.io", "version": "v1", "kind": "Thing"}
                ],
                "properties": {"spec": {"type": "string", "pattern": "^[a-z]+$"}},
            }
        },
    )
    found = schemas.validate({"apiVersion": "example.io/v1", "kind": "Thing", "spec": "A"})
    assert [(v.path, v.message) for v in found or ()] == [
        (("spec",), "'A' does not match '^[a-z]+$'")
    ]
