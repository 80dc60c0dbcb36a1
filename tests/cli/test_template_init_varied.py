"""`template init` on varied objects (StatefulSet+claims, PVC, CronJob, Ingress with TLS, HPA v2,
RBAC, ConfigMap with a script and YAML 1.1 look-alikes, an Argo CD Application), then the
template validates, generates for several contexts and its charts pass Helm lint."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from helmforge.cli.main import app
from helmforge.core.yaml_codec import load_single
from tests.support.charts import EXAMPLE
from tests.support.helm import assert_helm_lints

OBJECTS = Path(__file__).resolve().parent / "data" / "varied-objects.yaml"
runner = CliRunner()
pytestmark = pytest.mark.xdist_group("generation")


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.helm
@pytest.mark.parametrize("kubernetes_version", ["1.25", "1.31"])
def test_init_from_varied_objects_validates_generates_and_lints(
    tmp_path: Path, kubernetes_version: str
) -> None:
    template = tmp_path / "mixed.yaml"
    code, out = invoke(
        "template", "init", "--from", str(OBJECTS), "--name", "mixed",
        "--out", str(template), "--kubernetes-version", kubernetes_version,
    )  # fmt: skip
    assert code == 0, out
    code, out = invoke("template", "validate", str(template))
    assert code == 0, out
    assert "Application (argoproj.io/v1alpha1) is not in the Kubernetes" in out
    for environment in ("dev", "prod"):
        folder = tmp_path / environment
        code, out = invoke(
            "generate", str(template), "--out", str(folder), "--product", "shop",
            "--customer", "acme", "--environment", environment, "--instance", "a",
            "--version", "1.0.0",
        )  # fmt: skip
        assert code == 0, out
        (chart,) = folder.iterdir()
        assert_helm_lints(chart)
        schema = json.loads((chart / "values.schema.json").read_text())
        values = load_single((chart / "values.yaml").read_bytes()).data
        jsonschema.Draft7Validator(schema).validate(values)
        assert values["script"]["data"]["enabled"] == "on"
        assert values["db"]["env"]["PERMS"] == "0755"
        assert values["db"]["env"]["VER"] == "1.10"
        values["db"]["replicaCount"] = "two"
        assert list(jsonschema.Draft7Validator(schema).iter_errors(values))
    # re-running init over the existing template keeps it valid
    code, out = invoke(
        "template", "init", "--from", str(OBJECTS), "--name", "mixed", "--out", str(template)
    )
    assert code == 0, out
    code, out = invoke("template", "validate", str(template))
    assert code == 0, out


def test_unsupported_kubernetes_version_names_file_and_line(tmp_path: Path) -> None:
    example = EXAMPLE
    template = tmp_path / "old.yaml"
    template.write_text(example.read_text().replace('"1.31"', '"1.24"'))
    code, out = invoke("template", "validate", str(template), str(example))
    assert code == 1
    assert f"{template}:9: spec.kubernetesVersion: no built-in schemas for Kubernetes 1.24" in out
    assert f"{example}: ok" in out  # the other file is still checked
    code, out = invoke(
        "generate", str(template), "--out", str(tmp_path / "o"), "--product", "p",
        "--customer", "c", "--environment", "dev", "--instance", "a", "--version", "1.0.0",
    )  # fmt: skip
    assert code == 1
    assert f"{template}:9: spec.kubernetesVersion: no built-in schemas" in out
