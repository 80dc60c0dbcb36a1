from __future__ import annotations

import json
from pathlib import Path

import pytest

from helmforge.core.access.principals import local_operator
from helmforge.core.errors import InputError
from helmforge.services import catalog, schemas

ADMIN_OPERATOR = local_operator("admin")
OPERATOR_A = local_operator("a")
OPS = local_operator("ops")

VALID_APPLICATION = b"""
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec:
  project: default
  destination: {server: "https://kubernetes.default.svc", namespace: shop}
  sources:
  - repoURL: oci://registry.example.com/charts
    chart: shop-acme-prod-a1
    targetRevision: 1.2.3
    helm: {valueFiles: [$values/shop/acme/prod/a1/values.yaml]}
  - {repoURL: "https://git.example.com/gitops.git", targetRevision: main, ref: values}
  syncPolicy: {automated: {prune: true, selfHeal: true}}
"""


def test_argocd_crds_import_and_validate_applications(database_url: str, shared_data: Path) -> None:
    store = catalog.open_catalog(database_url)
    paths = [str(p) for p in sorted((shared_data / "argocd").glob("*-crd.yaml"))]
    report = schemas.import_schema_sources(
        store.sessions, catalog.read_paths(paths), actor=ADMIN_OPERATOR
    )
    assert ("argoproj.io/v1alpha1", "Application") in report.kinds
    assert report.count("created") == 3
    again = schemas.import_schema_sources(
        store.sessions, catalog.read_paths(paths), actor=ADMIN_OPERATOR
    )
    assert again.count("unchanged") == 3
    listed = schemas.list_schema_entries(store.sessions, actor=ADMIN_OPERATOR, kind="application")
    assert [entry.name for entry in listed] == ["io.argoproj.v1alpha1.Application"]

    good = catalog.import_sources(
        store.sessions, [catalog.Source("app.yaml", VALID_APPLICATION)], actor=ADMIN_OPERATOR
    )
    assert [o.schema_status for o in good.objects] == ["valid"]
    broken = VALID_APPLICATION.replace(b"namespace: shop}", b"namespce: shop}").replace(
        b"targetRevision: 1.2.3", b"targetRevision: [1]"
    )
    with pytest.raises(InputError) as caught:
        catalog.import_sources(
            store.sessions, [catalog.Source("broken.yaml", broken)], actor=ADMIN_OPERATOR
        )
    messages = "\n".join(str(problem) for problem in caught.value.problems)
    assert "Application/argocd/shop: spec.destination: unknown field(s) namespce" in messages
    assert "spec.sources[0].targetRevision" in messages
    store.engine.dispose()


def test_swagger_with_self_references_converts_and_validates(
    database_url: str, shared_data: Path
) -> None:
    store = catalog.open_catalog(database_url)
    self_referencing = {
        "swagger": "2.0",
        "definitions": {
            "io.example.v1.Props": {
                "type": "object",
                "properties": {
                    "items": {"$ref": "#/definitions/io.example.v1.Props"},
                    "anyOf": {
                        "type": "array",
                        "items": {"$ref": "#/definitions/io.example.v1.Props"},
                    },
                    "port": {"type": "string", "format": "int-or-string"},
                },
            },
            "io.example.v1.Widget": {
                "type": "object",
                "x-kubernetes-group-version-kind": [
                    {"group": "example.io", "version": "v1", "kind": "Widget"}
                ],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": {"$ref": "#/definitions/io.example.v1.Props"},
                },
            },
        },
    }
    sources = [
        catalog.Source("self.json", json.dumps(self_referencing).encode()),
        *catalog.read_paths([str(shared_data / "argocd" / "swagger.json")]),
    ]
    report = schemas.import_schema_sources(store.sessions, sources, actor=ADMIN_OPERATOR)
    assert report.count("created") > 200
    widget = (
        b"apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w}\n"
        b"spec: {items: {items: {port: 80}}}\n"
    )
    assert (
        catalog.import_sources(
            store.sessions, [catalog.Source("w.yaml", widget)], actor=OPERATOR_A
        ).invalid
        == []
    )
    deep_bad = widget.replace(b"port: 80", b"port: [80]")
    with pytest.raises(InputError, match=r"spec.items.items.port"):
        catalog.import_sources(
            store.sessions, [catalog.Source("w.yaml", deep_bad)], actor=OPERATOR_A
        )
    store.engine.dispose()


def test_non_schema_input_is_refused_with_its_source(database_url: str) -> None:
    store = catalog.open_catalog(database_url)
    with pytest.raises(InputError, match=r"cm.yaml:1.*not a CRD or an OpenAPI document"):
        schemas.import_schema_sources(
            store.sessions,
            [catalog.Source("cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")],
            actor=OPERATOR_A,
        )
    assert schemas.list_schema_entries(store.sessions, actor=OPERATOR_A) == []
    store.engine.dispose()


def test_crds_imported_as_objects_register_schemas_for_the_same_import(
    database_url: str, shared_data: Path
) -> None:
    store = catalog.open_catalog(database_url)
    crd = (shared_data / "argocd" / "application-crd.yaml").read_bytes()
    stream = crd + b"\n---\n" + VALID_APPLICATION
    report = catalog.import_sources(
        store.sessions, [catalog.Source("argo.yaml", stream)], actor=OPS
    )
    assert report.schemas == {"io.argoproj.v1alpha1.Application": "created"}
    statuses = {o.reference: o.schema_status for o in report.objects}
    assert statuses["Application/argocd/shop"] == "valid"
    assert statuses["CustomResourceDefinition/applications.argoproj.io"] == "valid"
    listed = schemas.list_schema_entries(store.sessions, actor=OPS, kind="Application")
    assert listed[0].source.startswith("argo.yaml:")
    broken = stream.replace(b"project: default", b"project: [default]")
    with pytest.raises(InputError, match=r"spec.project"):
        catalog.import_sources(store.sessions, [catalog.Source("argo.yaml", broken)], actor=OPS)
    store.engine.dispose()


def test_schema_import_errors_name_the_line_of_the_field_not_of_the_document(
    database_url: str,
) -> None:
    store = catalog.open_catalog(database_url)
    first = b"apiVersion: v1\nkind: List\nitems:\n- {kind: CustomResourceDefinition, spec: 1}\n"
    second = (
        b"apiVersion: apiextensions.k8s.io/v1\n"
        b"kind: CustomResourceDefinition\n"
        b"metadata: {name: widgets.example.com}\n"
        b"spec:\n"
        b"  group: example.com\n"
        b"  names: {kind: Widget, plural: widgets}\n"
    )
    not_a_schema = b"---\n# a ConfigMap\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    cases = {
        b"---\n" + first: "crd.yaml:5: spec: a CRD needs a spec",
        b"---\n# widgets\n" + second: "crd.yaml:6: spec.versions: a CRD needs spec.versions",
        not_a_schema: "crd.yaml:1: not a CRD or an OpenAPI document",  # the whole document
    }
    for content, expected in cases.items():
        with pytest.raises(InputError) as caught:
            schemas.import_schema_sources(
                store.sessions, [catalog.Source("crd.yaml", content)], actor=OPERATOR_A
            )
        assert str(caught.value).startswith(expected)
    store.engine.dispose()
