from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from helmforge.core.errors import InputError, NotFoundError, TooLargeError
from helmforge.services import catalog

DEMO = "manifests/microservices-demo"


def test_demo_imports_then_reimports_unchanged(database_url: str, shared_data: Path) -> None:
    engine = catalog.open_catalog(database_url)
    sources = catalog.read_paths([str(shared_data / DEMO / "kubernetes-manifests.yaml")])
    report = catalog.import_sources(engine, sources, actor="alice")
    assert report.count("created") == len(report.objects) > 30
    assert report.skipped == []
    assert report.invalid == []
    again = catalog.import_sources(engine, sources, actor="alice")
    assert again.count("unchanged") == len(again.objects)
    deployments = catalog.list_objects(engine, actor="alice", kind="deployment")
    assert len(deployments) == 12
    assert {d.schema_status for d in deployments} == {"valid"}
    frontend = catalog.list_objects(engine, actor="alice", label_selector="app=frontend")
    assert {e.reference for e in frontend} == {
        "Deployment/frontend",
        "Service/frontend",
        "Service/frontend-external",
    }
    assert catalog.list_objects(engine, actor="a", label_selector="app notin (frontend),!app") != []
    entry = catalog.get_object(engine, "Service/frontend", actor="alice")
    assert entry.body["spec"]["type"] == "ClusterIP"
    assert entry.imported_by == "alice"
    with pytest.raises(NotFoundError):
        catalog.get_object(engine, "Service/nope", actor="alice")
    engine.dispose()


def test_split_files_import_and_kustomization_is_skipped(
    database_url: str, shared_data: Path
) -> None:
    engine = catalog.open_catalog(database_url)
    folder = shared_data / DEMO
    paths = sorted(str(p) for p in folder.glob("split-*.yaml"))
    report = catalog.import_sources(engine, catalog.read_paths(paths), actor="bob")
    assert len(report.skipped) == 1
    assert "Kustomization" in report.skipped[0].reason
    assert report.count("created") == len(report.objects)
    by_source = catalog.list_objects(
        engine, actor="bob", source=str(folder / "split-cartservice.yaml")
    )
    assert {e.kind for e in by_source} >= {"Deployment", "Service"}
    engine.dispose()


def test_changed_object_is_updated_and_conflicts_fail_atomically(database_url: str) -> None:
    engine = catalog.open_catalog(database_url)
    first = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {a: b}}\ndata: {k: v}\n"
    catalog.import_sources(engine, [catalog.Source("one.yaml", first)], actor="x")
    changed = first.replace(b"k: v", b"k: w").replace(b"a: b", b"a: c")
    report = catalog.import_sources(engine, [catalog.Source("two.yaml", changed)], actor="y")
    assert [o.outcome for o in report.objects] == ["updated"]
    assert catalog.list_objects(engine, actor="x", label_selector="a=c")[0].source == "two.yaml"
    assert catalog.list_objects(engine, actor="x", label_selector="a=b") == []
    conflicting = (
        changed
        + b"---\n"
        + first
        + b"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\n"
    )
    with pytest.raises(InputError, match="defined twice"):
        catalog.import_sources(engine, [catalog.Source("three.yaml", conflicting)], actor="x")
    assert [e.name for e in catalog.list_objects(engine, actor="x")] == ["c"]
    engine.dispose()


def test_invalid_objects_fail_with_the_path_unless_allowed(database_url: str) -> None:
    engine = catalog.open_catalog(database_url)
    bad = (
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
        b"spec: {replicas: three, selector: {matchLabels: {a: b}},\n"
        b"  template: {metadata: {labels: {a: b}},\n"
        b"  spec: {containers: [{name: c, image: x, bogus: 1}]}}}\n"
    )
    with pytest.raises(InputError) as caught:
        catalog.import_sources(engine, [catalog.Source("bad.yaml", bad)], actor="x")
    messages = [str(p) for p in caught.value.problems]
    assert any("bad.yaml:1: Deployment/d: spec.replicas:" in m for m in messages)
    assert any("spec.template.spec.containers[0]: unknown field(s) bogus" in m for m in messages)
    assert catalog.list_objects(engine, actor="x") == []
    report = catalog.import_sources(
        engine, [catalog.Source("bad.yaml", bad)], actor="x", allow_invalid=True
    )
    assert report.invalid[0].reference == "Deployment/d"
    assert catalog.list_objects(engine, actor="x")[0].schema_status == "invalid"
    engine.dispose()


def test_unknown_kinds_are_imported_and_flagged(database_url: str) -> None:
    engine = catalog.open_catalog(database_url)
    text = b"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: n}\n"
    report = catalog.import_sources(engine, [catalog.Source("w.yaml", text)], actor="x")
    assert [o.schema_status for o in report.without_schema] == ["no-schema"]
    assert catalog.get_object(engine, "Widget/n/w", actor="x").namespace == "n"
    engine.dispose()


def test_read_paths_checks_size_before_reading_and_reads_stdin(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" * 50)
    with pytest.raises(TooLargeError, match="over the limit"):
        catalog.read_paths([str(big)], max_bytes=100)
    with pytest.raises(InputError, match="no such file"):
        catalog.read_paths([str(tmp_path / "missing.yaml")])
    sources = catalog.read_paths(["-"], stdin=io.BytesIO(b"x: 1\n"))
    assert sources == [catalog.Source("<stdin>", b"x: 1\n")]
    with pytest.raises(TooLargeError):
        catalog.read_paths(["-"], stdin=io.BytesIO(b"x" * 200), max_bytes=100)


def test_secret_values_never_reach_the_catalog(database_url: str) -> None:
    engine = catalog.open_catalog(database_url)
    canary = "c2VjcmV0LWNhbmFyeQ=="
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
        f"data: {{password: {canary}}}\nstringData: {{token: plain-canary}}\n"
    ).encode()
    catalog.import_sources(engine, [catalog.Source("s.yaml", text)], actor="x")
    entry = catalog.get_object(engine, "Secret/s", actor="x")
    assert entry.body["data"] == {"password": ""}
    assert entry.body["stringData"] == {"token": ""}
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT body, problems FROM catalog_objects")).all()
    dump = repr(rows)
    assert "password" in dump
    assert canary not in dump
    assert "plain-canary" not in dump
    engine.dispose()
