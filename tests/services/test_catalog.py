from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from helmforge.core.access.principals import local_operator
from helmforge.core.errors import InputError, NotFoundError, TooLargeError
from helmforge.services import catalog

ALICE = local_operator("alice")
BOB = local_operator("bob")
OPERATOR_A = local_operator("a")
OPERATOR_X = local_operator("x")
OPERATOR_Y = local_operator("y")

DEMO = "manifests/microservices-demo"


def test_demo_imports_then_reimports_unchanged(database_url: str, shared_data: Path) -> None:
    store = catalog.open_catalog(database_url)
    sources = catalog.read_paths([str(shared_data / DEMO / "kubernetes-manifests.yaml")])
    report = catalog.import_sources(store.sessions, sources, actor=ALICE)
    assert report.count("created") == len(report.objects) > 30
    assert report.skipped == []
    assert report.invalid == []
    again = catalog.import_sources(store.sessions, sources, actor=ALICE)
    assert again.count("unchanged") == len(again.objects)
    deployments = catalog.list_objects(store.sessions, actor=ALICE, kind="deployment")
    assert len(deployments) == 12
    assert {d.schema_status for d in deployments} == {"valid"}
    frontend = catalog.list_objects(store.sessions, actor=ALICE, label_selector="app=frontend")
    assert {e.reference for e in frontend} == {
        "Deployment/frontend",
        "Service/frontend",
        "Service/frontend-external",
    }
    assert (
        catalog.list_objects(
            store.sessions, actor=OPERATOR_A, label_selector="app notin (frontend),!app"
        )
        != []
    )
    entry = catalog.get_object(store.sessions, "Service/frontend", actor=ALICE)
    assert entry.body["spec"]["type"] == "ClusterIP"
    assert entry.imported_by == "alice"
    with pytest.raises(NotFoundError, match=r"^no Service/nope in the catalog$"):
        catalog.get_object(store.sessions, "Service/nope", actor=ALICE)
    store.engine.dispose()


def test_split_files_import_and_kustomization_is_skipped(
    database_url: str, shared_data: Path
) -> None:
    store = catalog.open_catalog(database_url)
    folder = shared_data / DEMO
    paths = sorted(str(p) for p in folder.glob("split-*.yaml"))
    report = catalog.import_sources(store.sessions, catalog.read_paths(paths), actor=BOB)
    assert len(report.skipped) == 1
    assert "Kustomization" in report.skipped[0].reason
    assert report.count("created") == len(report.objects)
    by_source = catalog.list_objects(
        store.sessions, actor=BOB, source=str(folder / "split-cartservice.yaml")
    )
    assert {e.kind for e in by_source} >= {"Deployment", "Service"}
    store.engine.dispose()


def test_changed_object_is_updated_and_conflicts_fail_atomically(database_url: str) -> None:
    store = catalog.open_catalog(database_url)
    first = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {a: b}}\ndata: {k: v}\n"
    catalog.import_sources(store.sessions, [catalog.Source("one.yaml", first)], actor=OPERATOR_X)
    changed = first.replace(b"k: v", b"k: w").replace(b"a: b", b"a: c")
    report = catalog.import_sources(
        store.sessions, [catalog.Source("two.yaml", changed)], actor=OPERATOR_Y
    )
    assert [o.outcome for o in report.objects] == ["updated"]
    assert (
        catalog.list_objects(store.sessions, actor=OPERATOR_X, label_selector="a=c")[0].source
        == "two.yaml"
    )
    assert catalog.list_objects(store.sessions, actor=OPERATOR_X, label_selector="a=b") == []
    conflicting = (
        changed
        + b"---\n"
        + first
        + b"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\n"
    )
    with pytest.raises(InputError, match="defined twice"):
        catalog.import_sources(
            store.sessions, [catalog.Source("three.yaml", conflicting)], actor=OPERATOR_X
        )
    assert [e.name for e in catalog.list_objects(store.sessions, actor=OPERATOR_X)] == ["c"]
    store.engine.dispose()


def test_invalid_objects_fail_with_the_path_unless_allowed(database_url: str) -> None:
    store = catalog.open_catalog(database_url)
    bad = (
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
        b"spec: {replicas: three, selector: {matchLabels: {a: b}},\n"
        b"  template: {metadata: {labels: {a: b}},\n"
        b"  spec: {containers: [{name: c, image: x, bogus: 1}]}}}\n"
    )
    with pytest.raises(InputError) as caught:
        catalog.import_sources(store.sessions, [catalog.Source("bad.yaml", bad)], actor=OPERATOR_X)
    messages = [str(p) for p in caught.value.problems]
    assert any("bad.yaml:4: Deployment/d: spec.replicas:" in m for m in messages)
    assert any("spec.template.spec.containers[0]: unknown field(s) bogus" in m for m in messages)
    assert catalog.list_objects(store.sessions, actor=OPERATOR_X) == []
    report = catalog.import_sources(
        store.sessions, [catalog.Source("bad.yaml", bad)], actor=OPERATOR_X, allow_invalid=True
    )
    assert report.invalid[0].reference == "Deployment/d"
    assert catalog.list_objects(store.sessions, actor=OPERATOR_X)[0].schema_status == "invalid"
    store.engine.dispose()


def test_unknown_kinds_are_imported_and_flagged(database_url: str) -> None:
    store = catalog.open_catalog(database_url)
    text = b"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: n}\n"
    report = catalog.import_sources(
        store.sessions, [catalog.Source("w.yaml", text)], actor=OPERATOR_X
    )
    assert [o.schema_status for o in report.without_schema] == ["no-schema"]
    assert catalog.get_object(store.sessions, "Widget/n/w", actor=OPERATOR_X).namespace == "n"
    store.engine.dispose()


def test_read_paths_checks_size_before_reading_and_reads_stdin(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" * 50)
    with pytest.raises(TooLargeError, match="over the limit"):
        catalog.read_paths([str(big)], max_bytes=100)
    with pytest.raises(InputError, match="no such file"):
        catalog.read_paths([str(tmp_path / "missing.yaml")])
    sources = catalog.read_paths(["-"], stdin=io.BytesIO(b"x: 1\n"))
    assert sources == [catalog.Source("<stdin>", b"x: 1\n")]
    with pytest.raises(TooLargeError, match=r"^<stdin>: more than 100 bytes on stdin$"):
        catalog.read_paths(["-"], stdin=io.BytesIO(b"x" * 200), max_bytes=100)


def test_secret_values_never_reach_the_catalog(database_url: str) -> None:
    store = catalog.open_catalog(database_url)
    canary = "c2VjcmV0LWNhbmFyeQ=="
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
        f"data: {{password: {canary}}}\nstringData: {{token: plain-canary}}\n"
    ).encode()
    catalog.import_sources(store.sessions, [catalog.Source("s.yaml", text)], actor=OPERATOR_X)
    entry = catalog.get_object(store.sessions, "Secret/s", actor=OPERATOR_X)
    assert entry.body["data"] == {"password": ""}
    assert entry.body["stringData"] == {"token": ""}
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT body, problems FROM catalog_objects")).all()
    dump = repr(rows)
    assert "password" in dump
    assert canary not in dump
    assert "plain-canary" not in dump
    store.engine.dispose()


def test_import_problems_name_the_line_of_the_field_not_of_the_document(
    database_url: str,
) -> None:
    store = catalog.open_catalog(database_url)
    bad = (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        b"---\n"
        b"apiVersion: apps/v1\n"
        b"kind: Deployment\n"
        b"metadata:\n"
        b"  name: d\n"
        b"spec:\n"
        b"  replicas: three\n"
        b"  template:\n"
        b"    metadata: {labels: {a: b}}\n"
        b"    spec:\n"
        b"      containers:\n"
        b"      - name: c\n"
        b"        image: x\n"
        b"        bogus: 1\n"
    )
    with pytest.raises(InputError) as caught:
        catalog.import_sources(store.sessions, [catalog.Source("bad.yaml", bad)], actor=OPERATOR_X)
    located = sorted(
        (str(problem.location), problem.message.split(": ")[1])
        for problem in caught.value.problems
        if isinstance(problem, InputError)
    )
    # the missing spec.selector is named at spec, its nearest ancestor in the input
    assert located == [
        ("bad.yaml:10", "spec.replicas"),
        ("bad.yaml:15", "spec.template.spec.containers[0]"),
        ("bad.yaml:9", "spec"),
    ]
    store.engine.dispose()


def test_a_crd_without_versions_is_named_at_its_spec_not_at_the_document(
    database_url: str,
) -> None:
    store = catalog.open_catalog(database_url)
    crd = (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        b"---\n"
        b"apiVersion: apiextensions.k8s.io/v1\n"
        b"kind: CustomResourceDefinition\n"
        b"metadata:\n"
        b"  name: widgets.example.com\n"
        b"spec:\n"
        b"  group: example.com\n"
        b"  names: {kind: Widget, plural: widgets}\n"
        b"  scope: Namespaced\n"
    )
    with pytest.raises(InputError) as caught:
        catalog.import_sources(store.sessions, [catalog.Source("crd.yaml", crd)], actor=OPERATOR_X)
    assert str(caught.value) == (
        "crd.yaml:9: CustomResourceDefinition/widgets.example.com spec.versions: "
        "a CRD needs spec.versions (apiextensions.k8s.io/v1)"
    )
    store.engine.dispose()
