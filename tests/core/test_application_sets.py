"""The ApplicationSet of a repository: valid against Argo CD's ApplicationSet CRD, and — with
its Go templates rendered the way the ApplicationSet controller renders the three forms it
uses — generating from each instance's application.yaml exactly that Application, which
validates against the Application CRD."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helmforge.core.errors import InputError
from helmforge.core.instances.application import ApplicationSpec, application_manifest
from helmforge.core.instances.application_sets import (
    application_set_manifest,
    application_set_yaml,
)
from helmforge.core.instances.layout import InstanceId
from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.openapi import crd_definitions
from helmforge.core.yaml_codec import load_single

REPOSITORY = "https://git.example.com/platform/gitops.git"
_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def _schemas(shared_data: Path, name: str) -> SchemaSet:
    source = shared_data / "argocd" / name
    crd = load_single(source.read_text(encoding="utf-8"), source=str(source)).data
    return SchemaSet(kubernetes_version="argocd", definitions=crd_definitions(crd, source=name))


@pytest.fixture(scope="module")
def application_set_schemas(shared_data: Path) -> SchemaSet:
    return _schemas(shared_data, "applicationset-crd.yaml")


@pytest.fixture(scope="module")
def application_schemas(shared_data: Path) -> SchemaSet:
    return _schemas(shared_data, "application-crd.yaml")


def _field(params: Any, dotted: str) -> Any:
    for part in dotted.lstrip(".").split("."):
        params = params[part]  # missingkey=error: a KeyError fails the test
    return params


def _action(params: dict[str, Any], text: str) -> str:
    """``.a.b``, ``index .a.b "key"`` and ``toJson .a.b``: the only forms the set uses."""
    words = text.split(" ")
    if words[0] == "toJson" and len(words) == 2:
        return json.dumps(_field(params, words[1]))
    if words[0] == "index" and len(words) == 3:
        value = _field(params, words[1])[json.loads(words[2])]
    elif len(words) == 1 and words[0].startswith("."):
        value = _field(params, words[0])
    else:
        raise AssertionError(f"a Go template form the test does not know: {text!r}")
    assert isinstance(value, str), text
    return value


def _render(template: Any, params: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return _ACTION.sub(lambda m: _action(params, m.group(1)), template)
    if isinstance(template, list):
        return [_render(item, params) for item in template]
    if isinstance(template, dict):
        return {key: _render(value, params) for key, value in template.items()}
    return template


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in patch.items()}}
    return patch


def _generate(application_set: dict[str, Any], file: dict[str, Any]) -> dict[str, Any]:
    spec = application_set["spec"]
    generated = _render(spec["template"], file)
    patch = json.loads(_render(spec["templatePatch"], file))
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **_merge(generated, patch)}


@given(
    st.sampled_from(["", "clusters/eu"]),
    st.booleans(),
    st.sampled_from(["1.0.0", "2.3.4-rc.1"]),
    st.one_of(st.none(), st.just("custom-ns")),
)
def test_the_generated_application_is_the_instance_s_application_yaml(
    application_set_schemas: SchemaSet,
    application_schemas: SchemaSet,
    base: str,
    automated: bool,
    version: str,
    namespace: str | None,
) -> None:
    text = application_set_yaml(
        name="helmforge-gitops", repository_url=REPOSITORY, branch="main", base_path=base,
        project="shop",
    )  # fmt: skip
    application_set = load_single(text, source="applicationset.yaml").data
    assert application_set_schemas.validate(application_set) == []
    [generator] = application_set["spec"]["generators"]
    pattern = generator["git"]["files"][0]["path"]
    assert pattern == "/".join([*([base] if base else []), "*/*/*/*/application.yaml"])
    spec = ApplicationSpec(
        instance=InstanceId("shop", "acme", "dev", "eu-1"), chart="shop-acme-dev-eu-1",
        chart_version=version, registry_location="registry.example.com/charts",
        repository_url=REPOSITORY, branch="main", base_path=base, project="shop",
        namespace=namespace, automated=automated,
    )  # fmt: skip
    file = application_manifest(spec)
    generated = _generate(application_set, file)
    assert application_schemas.validate(generated) == []
    assert generated["metadata"] == {
        "name": file["metadata"]["name"],
        "labels": file["metadata"]["labels"],
    }
    assert generated["spec"] == file["spec"]


def test_credentials_in_the_url_are_refused_unechoed() -> None:
    with pytest.raises(InputError, match="must not contain credentials") as caught:
        application_set_manifest(
            name="x", repository_url="https://bot:canary-pw@git.example.com/g.git", branch="main"
        )
    assert "canary-pw" not in str(caught.value)


def test_the_renderer_of_this_test_can_fail() -> None:
    application_set = application_set_manifest(name="x", repository_url=REPOSITORY, branch="main")
    with pytest.raises(KeyError):
        _generate(application_set, {"metadata": {"name": "a"}})
