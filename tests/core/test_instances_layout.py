"""The GitOps layout and the Argo CD Application of DESIGN §6."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helmforge.core.errors import InputError
from helmforge.core.instances.application import (
    ApplicationSpec,
    application_manifest,
    application_yaml,
    check_git_url,
)
from helmforge.core.instances.layout import InstanceId, normalize_base_path
from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.openapi import crd_definitions
from helmforge.core.yaml_codec import load_single

SHOP = InstanceId("shop", "acme", "prod", "eu-1")


def _spec(**overrides: Any) -> ApplicationSpec:
    fields: dict[str, Any] = {
        "instance": SHOP,
        "chart": "shop",
        "chart_version": "1.4.0",
        "registry_location": "registry.example.com:5000/charts",
        "repository_url": "https://git.example.com/platform/gitops.git",
        "branch": "main",
        "base_path": "clusters/eu",
    }
    return ApplicationSpec(**(fields | overrides))


def test_layout_paths_below_the_base_path() -> None:
    assert SHOP.values_path() == "shop/acme/prod/eu-1/values.yaml"
    assert (
        SHOP.application_path("/clusters/eu/") == "clusters/eu/shop/acme/prod/eu-1/application.yaml"
    )
    assert SHOP.default_namespace() == "shop-acme-prod-eu-1"
    assert str(InstanceId.parse("shop/acme/prod/eu-1")) == "shop/acme/prod/eu-1"


@pytest.mark.parametrize(
    ("segment", "why"),
    [
        ("..", "RFC 1123"),
        ("a/b", "RFC 1123"),
        ("Foo", "RFC 1123"),
        ("", "non-empty"),
        ("-a", "RFC 1123"),
        ("a" * 64, "RFC 1123"),
        ("a_b", "RFC 1123"),
    ],
)
def test_every_segment_is_validated(segment: str, why: str) -> None:
    for position in range(4):
        parts = ["shop", "acme", "prod", "eu-1"]
        parts[position] = segment
        with pytest.raises(InputError, match=why):
            InstanceId(*parts)


def test_an_instance_id_needs_four_segments() -> None:
    with pytest.raises(InputError, match="four segments"):
        InstanceId.parse("shop/acme/prod")
    with pytest.raises(InputError, match="RFC 1123"):
        InstanceId.parse("shop/acme/../prod")


@pytest.mark.parametrize("path", ["..", "a/../b", "a//b", "a\\b", "./x"])
def test_a_base_path_stays_in_the_repository(path: str) -> None:
    with pytest.raises(InputError, match="is not valid"):
        normalize_base_path(path)


def test_root_base_paths() -> None:
    assert [normalize_base_path(p) for p in (None, "", "/", ".", "/a/b/")] == [
        "",
        "",
        "",
        "",
        "a/b",
    ]


def test_a_namespace_longer_than_a_label_is_refused_with_its_length() -> None:
    long = InstanceId("a" * 20, "b" * 20, "c" * 20, "d" * 5)
    with pytest.raises(InputError, match="is 68 characters"):
        long.default_namespace()


@given(
    st.lists(
        st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True), min_size=4, max_size=4
    )
)
def test_valid_ids_round_trip_and_stay_in_their_folder(parts: list[str]) -> None:
    instance = InstanceId(*parts)
    assert InstanceId.parse(str(instance)) == instance
    assert instance.values_path("base").split("/") == ["base", *parts, "values.yaml"]


def test_the_application_is_multi_source_chart_then_values() -> None:
    manifest = application_manifest(_spec())
    chart, values = manifest["spec"]["sources"]
    assert chart == {
        "repoURL": "registry.example.com:5000/charts",
        "chart": "shop",
        "targetRevision": "1.4.0",
        "helm": {"valueFiles": ["$values/clusters/eu/shop/acme/prod/eu-1/values.yaml"]},
    }
    assert values == {
        "repoURL": "https://git.example.com/platform/gitops.git",
        "targetRevision": "main",
        "ref": "values",
    }
    assert manifest["spec"]["destination"]["namespace"] == "shop-acme-prod-eu-1"
    assert manifest["metadata"]["name"] == "shop-acme-prod-eu-1"
    assert "automated" not in manifest["spec"]["syncPolicy"]
    assert _spec(namespace="shop").destination_namespace == "shop"


def test_an_auto_sync_application_carries_the_automated_policy() -> None:
    policy = application_manifest(_spec(automated=True))["spec"]["syncPolicy"]
    assert policy == {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true"],
    }


def test_application_yaml_reads_back_as_the_manifest() -> None:
    text = application_yaml(_spec(chart_version="1.0.0-rc.1"))
    assert load_single(text, source="application.yaml").data == application_manifest(
        _spec(chart_version="1.0.0-rc.1")
    )


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("chart", "Shop", "chart name"),
        ("chart_version", "v1", "SemVer"),
        ("registry_location", "oci://registry/charts", "without a scheme"),
        ("registry_location", "robot:canary-secret@registry/charts", "userinfo"),
        ("repository_url", "file:///srv/git/gitops.git", "not valid"),
        ("branch", "../main", "branch"),
        ("namespace", "Prod", "namespace"),
    ],
)
def test_bad_application_fields_are_refused(field: str, value: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as caught:
        _spec(**{field: value})
    assert "canary-secret" not in str(caught.value)


def test_a_password_in_a_git_url_is_refused_and_not_echoed() -> None:
    with pytest.raises(InputError, match="must not contain credentials") as caught:
        check_git_url("https://bot:canary-secret@git.example.com/gitops.git")
    assert "canary-secret" not in str(caught.value)
    assert check_git_url("git@git.example.com:platform/gitops.git")
    assert check_git_url("ssh://git@git.example.com:2222/platform/gitops.git")


@pytest.fixture(scope="module")
def argocd_schemas(shared_data: Path) -> SchemaSet:
    # Read from the shared data at test time: the CRD is never copied into the repository.
    source = shared_data / "argocd" / "application-crd.yaml"
    crd = load_single(source.read_text(encoding="utf-8"), source=str(source)).data
    return SchemaSet(
        kubernetes_version="argocd", definitions=crd_definitions(crd, source=str(source))
    )


@given(
    st.sampled_from(["", "clusters/eu", "a/b/c"]),
    st.sampled_from(["1.0.0", "2.3.4-rc.1", "1.2.3+build.5"]),
    st.one_of(st.none(), st.just("custom-ns")),
    st.sampled_from(
        ["https://git.example.com/g.git", "git@git.example.com:g.git", "ssh://git@h:2222/g.git"]
    ),
    st.booleans(),
)
def test_every_application_validates_against_the_argocd_crd(
    argocd_schemas: SchemaSet,
    base: str,
    version: str,
    namespace: str | None,
    url: str,
    automated: bool,
) -> None:
    spec = _spec(
        base_path=base,
        chart_version=version,
        namespace=namespace,
        repository_url=url,
        automated=automated,
    )
    manifest = load_single(application_yaml(spec), source="application.yaml").data
    assert argocd_schemas.validate(manifest) == []


def test_the_crd_check_can_fail(argocd_schemas: SchemaSet) -> None:
    manifest = application_manifest(_spec())
    manifest["spec"]["sources"][0]["helm"]["valueFiles"] = "not-a-list"
    violations = argocd_schemas.validate(manifest)
    assert violations
    assert violations[0].path == ("spec", "sources", 0, "helm", "valueFiles")
