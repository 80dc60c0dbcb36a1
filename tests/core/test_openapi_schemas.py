from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from helmforge.core.errors import InputError
from helmforge.core.schemas.openapi import (
    crd_definitions,
    definition_name_for,
    definitions_from_documents,
    openapi_definitions,
)


def _crd(versions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.io"},
        "spec": {"group": "example.io", "names": {"kind": "Widget"}, "versions": versions},
    }


SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    },
}


def _valid(schema: dict[str, Any], instance: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


def test_every_served_version_becomes_a_definition_with_kubernetes_extensions() -> None:
    definitions = crd_definitions(
        _crd(
            [
                {"name": "v1", "served": True, "schema": {"openAPIV3Schema": SCHEMA}},
                {"name": "v1beta1", "served": False, "schema": {"openAPIV3Schema": SCHEMA}},
                {"name": "v2", "served": True},
            ]
        ),
        source="w.yaml",
    )
    assert sorted(definitions) == ["io.example.v1.Widget", "io.example.v2.Widget"]
    v1 = definitions["io.example.v1.Widget"]
    assert v1["x-kubernetes-group-version-kind"] == [
        {"group": "example.io", "version": "v1", "kind": "Widget"}
    ]
    base = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {}}
    assert _valid(v1, {**base, "spec": {"port": 80, "note": None, "extra": {"any": 1}}})
    assert _valid(v1, {**base, "spec": {"port": "http"}})
    assert not _valid(v1, {**base, "spec": {"port": 1.5}})
    assert not _valid(v1, {**base, "spec": {"typo": 1}})  # unknown fields are refused
    assert _valid(definitions["io.example.v2.Widget"], {**base, "anything": 1})


def test_broken_crds_are_refused_with_the_path() -> None:
    with pytest.raises(InputError, match=r"w.yaml: spec.versions: a CRD needs spec.versions"):
        crd_definitions(_crd([]), source="w.yaml")
    with pytest.raises(InputError, match="serves no version"):
        crd_definitions(_crd([{"name": "v1", "served": False}]), source="w.yaml")
    with pytest.raises(InputError, match="expected a CustomResourceDefinition"):
        crd_definitions({"kind": "ConfigMap"}, source="w.yaml")


def test_openapi_v3_and_swagger_refs_become_internal() -> None:
    v3 = {
        "components": {"schemas": {"A": {"properties": {"b": {"$ref": "#/components/schemas/A"}}}}}
    }
    assert openapi_definitions(v3, source="o.json") == {
        "A": {"properties": {"b": {"$ref": "#/$defs/A"}}}
    }
    swagger = {
        "definitions": {"X": {"allOf": [{"$ref": "#/definitions/X"}], "format": "int-or-string"}}
    }
    converted = openapi_definitions(swagger, source="s.json")["X"]
    assert converted["allOf"] == [{"$ref": "#/$defs/X"}]
    assert converted["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    with pytest.raises(InputError, match="not an OpenAPI document"):
        openapi_definitions({"paths": {}}, source="p.json")
    with pytest.raises(InputError, match="not a CRD or an OpenAPI document"):
        definitions_from_documents([({"kind": "Pod"}, "p.yaml")])


def test_definition_names() -> None:
    assert definition_name_for("argoproj.io", "v1alpha1", "Application") == (
        "io.argoproj.v1alpha1.Application"
    )
    assert definition_name_for("", "v1", "Widget") == "io.k8s.api.core.v1.Widget"
