from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helmforge.cli.main import app
from helmforge.core.access.principals import local_operator
from helmforge.services import catalog

OPERATOR = local_operator("t")

DEMO = "manifests/microservices-demo"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("HELMFORGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("HELMFORGE_ACTOR", "tester")
    return CliRunner()


def test_import_list_show_and_search(runner: CliRunner, shared_data: Path) -> None:
    folder = shared_data / DEMO
    both = runner.invoke(app, ["import", str(folder)])
    assert both.exit_code == 1  # the two layouts differ: conflicts, nothing imported
    assert "Deployment/cartservice is defined twice with different content" in both.stderr
    split = sorted(str(path) for path in folder.glob("split-*.yaml"))
    result = runner.invoke(app, ["import", *split])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.stderr
    assert "Kustomization" in result.stderr
    assert "created   Deployment/cartservice" in result.stdout
    one_file = str(folder / "kubernetes-manifests.yaml")
    assert "updated   Deployment/cartservice" in runner.invoke(app, ["import", one_file]).stdout
    again = runner.invoke(app, ["import", one_file])
    assert again.exit_code == 0
    assert "unchanged Deployment/cartservice" in again.stdout
    listed = runner.invoke(app, ["catalog", "list", "--kind", "Service", "-l", "app=frontend"])
    assert listed.exit_code == 0
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        "Service/frontend",
        "Service/frontend-external",
    ]
    as_json = json.loads(runner.invoke(app, ["catalog", "list", "-o", "json"]).stdout)
    assert {item["schemaStatus"] for item in as_json} == {"valid"}
    shown = runner.invoke(app, ["catalog", "show", "Deployment/cartservice"])
    assert shown.exit_code == 0
    assert "name: cartservice" in shown.stdout
    missing = runner.invoke(app, ["catalog", "show", "Deployment/nope"])
    assert missing.exit_code == 1
    assert "no Deployment/nope in the catalog" in missing.stderr


def test_schemas_import_list_and_application_validation(
    runner: CliRunner, shared_data: Path, tmp_path: Path
) -> None:
    crd = shared_data / "argocd" / "application-crd.yaml"
    imported = runner.invoke(app, ["schemas", "import", str(crd)])
    assert imported.exit_code == 0, imported.output
    assert "argoproj.io/v1alpha1 Application" in imported.stdout
    listed = runner.invoke(app, ["schemas", "list"])
    assert "io.argoproj.v1alpha1.Application" in listed.stdout
    broken = tmp_path / "app.yaml"
    broken.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        "metadata: {name: a, namespace: argocd}\n"
        "spec: {project: default, destination: {server: x}, source: {repoURL: 5}}\n"
    )
    result = runner.invoke(app, ["import", str(broken)])
    assert result.exit_code == 1
    assert "Application/argocd/a: spec.source.repoURL: 5 is not of type 'string'" in result.stderr


def test_import_from_stdin_and_template_init(runner: CliRunner, tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: NO, b: '0755'}\n"
    result = runner.invoke(app, ["import", "-"], input=text)
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["catalog", "show", "ConfigMap/c"]).stdout
    assert 'a: "NO"' in shown  # a YAML 1.1 boolean stays the string it was, quoted on output
    out = tmp_path / "cfg.yaml"
    init = runner.invoke(
        app,
        ["template", "init", "--from", "catalog:ConfigMap/c", "--name", "cfg", "--out", str(out)],
    )
    assert init.exit_code == 0, init.output
    assert init.stdout.strip() == str(out)
    validated = runner.invoke(app, ["template", "validate", str(out)])
    assert validated.exit_code == 0, validated.output


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)
SELF_REFERENCING = json.dumps(
    {
        "swagger": "2.0",
        "definitions": {
            "io.k8s.apiextensions.v1.JSONSchemaProps": {
                "type": "object",
                "properties": {
                    "not": {"$ref": "#/definitions/io.k8s.apiextensions.v1.JSONSchemaProps"},
                    "properties": {
                        "type": "object",
                        "additionalProperties": {
                            "$ref": "#/definitions/io.k8s.apiextensions.v1.JSONSchemaProps"
                        },
                    },
                },
            }
        },
    }
)
HOSTILE = {
    "1-alias-bomb": (ALIAS_BOMB, "alias bomb"),
    "2-deep-nesting": ("[" * 50_000 + "]" * 50_000, "nesting"),
    "3-duplicate-keys": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n",
        "duplicate key 'metadata' (first on line 3, again on line 4)",
    ),
    "7-python-tag": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: !!python/object/apply:os.system [ls]\n",
        "tag tag:yaml.org,2002:python/object/apply:os.system is not allowed",
    ),
    "8-too-many-documents": ("---\na: 1\n" * 20_001, "more than 20000 documents"),
}


# Runs the real CLI and, at exit, records the process's own peak RSS (VmHWM: per address
# space, so unlike ru_maxrss it does not inherit the forking test worker's size).
_MEASURED_CLI = """
import atexit, pathlib, sys
peak_path = pathlib.Path(sys.argv.pop(1))
def record():
    status = pathlib.Path("/proc/self/status").read_text()
    peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    peak_path.write_text(peak)
atexit.register(record)
sys.argv[0] = "helmforge"
from helmforge.cli.main import run
run()
"""


def _run(args: list[str], *, env: dict[str, str], workdir: Path) -> tuple[int, str, float]:
    """Run the real CLI in a subprocess: exit code, stderr, peak RSS in MB. The timeout only
    keeps a hang from stalling the suite; what a test checks is the answer and the memory."""
    peak_file = workdir / "peak-kb.txt"
    with (workdir / "out.txt").open("wb") as out, (workdir / "err.txt").open("wb") as err:
        process = subprocess.run(
            [sys.executable, "-c", _MEASURED_CLI, str(peak_file), *args],
            env=env,
            stdout=out,
            stderr=err,
            check=False,
            timeout=120,
        )
    peak_mb = int(peak_file.read_text()) / 1024
    return process.returncode, (workdir / "err.txt").read_text(), peak_mb


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HELMFORGE_DATABASE_URL": f"sqlite:///{tmp_path / 'hostile.db'}"}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_yaml_exits_1_with_the_reason_and_bounded_memory(
    case: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    text, reason = HOSTILE[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    code, err, peak_mb = _run(["import", str(path)], env=cli_env, workdir=tmp_path)
    assert code == 1, err  # not a crash (a signal gives a negative code)
    assert reason in err
    assert err.startswith("helmforge: error: ")
    assert peak_mb < 400
    store = catalog.open_catalog(cli_env["HELMFORGE_DATABASE_URL"])
    assert catalog.list_objects(store.sessions, actor=OPERATOR) == []
    store.engine.dispose()


def test_oversized_file_is_refused_before_reading(tmp_path: Path, cli_env: dict[str, str]) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(40 * 1024 * 1024)  # sparse: 40 MiB without writing them
    code, err, peak_mb = _run(["import", str(huge)], env=cli_env, workdir=tmp_path)
    assert code == 1, err
    assert "over the limit of 33554432 bytes" in err
    assert peak_mb < 200, peak_mb


def test_bom_crlf_empty_documents_lists_and_yaml11_keys_import(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_bytes(
        b"\xef\xbb\xbf---\r\n---\r\napiVersion: v1\r\nkind: List\r\nitems:\r\n"
        b"- {apiVersion: v1, kind: ConfigMap, metadata: {name: one},\r\n"
        b"   data: {on: yes, yes: 'no'}}\r\n"
        b"---\r\n# just a comment\r\n"
    )
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["catalog", "show", "ConfigMap/one"]).stdout
    assert '"on": "yes"' in shown
    assert '"yes": "no"' in shown


def test_self_referencing_openapi_converts(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "swagger.json"
    path.write_text(SELF_REFERENCING)
    result = runner.invoke(app, ["schemas", "import", str(path)])  # terminates: the proof
    assert result.exit_code == 0, result.output
    assert (
        "io.k8s.apiextensions.v1.JSONSchemaProps" in runner.invoke(app, ["schemas", "list"]).stdout
    )
