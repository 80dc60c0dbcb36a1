"""Built-in schemas from the kubernetes-validate package files."""

from __future__ import annotations

import pytest

from helmforge.adapters.kubernetes_schemas import available_kubernetes_versions, load_schema_set
from helmforge.core.errors import InputError


def test_versions_are_listed() -> None:
    versions = available_kubernetes_versions()
    assert "1.31" in versions
    assert versions == sorted(versions, key=lambda v: int(v.split(".")[1]))


@pytest.mark.parametrize("spelling", ["1.31", "1.31.0", "v1.31"])
def test_versions_load_and_are_cached(spelling: str) -> None:
    schemas = load_schema_set(spelling)
    assert schemas.kubernetes_version == "1.31"
    assert schemas is load_schema_set("1.31")


@pytest.mark.parametrize("version", ["1.2", "2.0", "latest", "1.999"])
def test_unknown_version_lists_the_available_ones(version: str) -> None:
    with pytest.raises(InputError) as caught:
        load_schema_set(version)
    assert "1.31" in str(caught.value)


def test_lookup_walk_and_validate() -> None:
    schemas = load_schema_set("1.31")
    assert schemas.definition_for("apps/v1", "Deployment") == "io.k8s.api.apps.v1.Deployment"
    assert schemas.definition_for("example.com/v1", "Widget") is None
    replicas = schemas.schema_at("apps/v1", "Deployment", ("spec", "replicas"))
    assert replicas is not None
    assert replicas["format"] == "int32"
    image = schemas.schema_at(
        "apps/v1", "Deployment", ("spec", "template", "spec", "containers", 0, "image")
    )
    assert image is not None
    assert "string" in image["type"]
    labels = schemas.schema_at("v1", "ConfigMap", ("metadata", "labels", "team"))
    assert labels is not None
    assert "string" in labels["type"]
    assert schemas.schema_at("v1", "ConfigMap", ("nope",)) is None

    good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
    assert schemas.validate(good) == []
    bad = {**good, "data": {"a": 1}, "colour": "red"}
    violations = schemas.validate(bad)
    assert violations is not None
    assert [v.path for v in violations] == [(), ("data", "a")]
    assert "unknown field(s) colour" in violations[0].message
    assert schemas.validate({"apiVersion": "example.com/v1", "kind": "Widget"}) is None


def test_each_version_has_core_kinds() -> None:
    for version in available_kubernetes_versions()[-3:]:
        schemas = load_schema_set(version)
        assert ("apps/v1", "Deployment") in schemas.kinds()
        assert ("v1", "Service") in schemas.kinds()
