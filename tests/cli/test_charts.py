"""``helmforge generate|package|lint|template validate``: exit codes, output, env vars."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helmforge.cli import charts
from helmforge.cli.main import app
from tests.support.charts import EXAMPLE
from tests.support.helm import assert_helm_lints, helm_show_chart

HELMFORGE = Path(sys.executable).with_name("helmforge")
CONTEXT = [
    "--product", "shop", "--customer", "acme", "--environment", "prod",
    "--instance", "a1", "--version", "2.4.1",
]  # fmt: skip

pytestmark = pytest.mark.xdist_group("generation")
runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.helm
def test_generate_package_and_lint(tmp_path: Path) -> None:
    code, out, err = invoke("generate", str(EXAMPLE), *CONTEXT, "--out", str(tmp_path / "o"))
    chart = tmp_path / "o" / "shop-acme-prod-a1"
    assert (code, out.strip(), err) == (0, str(chart), "")
    assert_helm_lints(chart)
    code, out, _ = invoke("package", str(chart), "--out", str(tmp_path / "p"))
    archive = tmp_path / "p" / "shop-acme-prod-a1-2.4.1.tgz"
    assert (code, out.strip()) == (0, str(archive))
    assert "version: 2.4.1" in helm_show_chart(archive)
    for target in (chart, archive):
        code, out, _ = invoke("lint", str(target))
        assert code == 0, out
        assert out.strip().endswith(f"{target}: ok")


def test_generate_package_flag_is_deterministic(tmp_path: Path) -> None:
    digests = set()
    for run in range(5):
        out_dir = tmp_path / str(run)
        code, out, _ = invoke(
            "generate", str(EXAMPLE), *CONTEXT, "--out", str(out_dir), "--package",
            "--set", "replicaCount=2", "--chart-version", "1.0.0",
        )  # fmt: skip
        assert code == 0
        assert sorted(os.listdir(out_dir)) == ["shop-acme-prod-a1-1.0.0.tgz"]
        digests.add(hashlib.sha256(Path(out.strip()).read_bytes()).hexdigest())
    assert len(digests) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "replicaCount"], "is not PATH=VALUE"),
        (["--set", "replicaCount=three"], "replicaCount"),
        (["--set", "replicaCont=3"], "replicaCont"),
        (["--chart-version", "v1"], "SemVer"),
        (["-f", "MISSING"], "cannot read values file"),
        (["-f", "BAD"], "duplicate key"),
    ],
)
def test_bad_input_exits_1_with_one_line_and_writes_nothing(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\n")
    extra = [
        {"MISSING": str(tmp_path / "nope.yaml"), "BAD": str(bad)}.get(arg, arg) for arg in extra
    ]
    out_dir = tmp_path / "out"
    code, out, err = invoke("generate", str(EXAMPLE), *CONTEXT, *extra, "--out", str(out_dir))
    assert code == 1
    assert out == ""
    assert err.startswith("helmforge: error: ")
    assert err.count("\n") == 1
    assert message in err
    assert not out_dir.exists()


def test_bad_contexts_and_templates_exit_1(tmp_path: Path) -> None:
    contexts = tmp_path / "contexts.yaml"
    contexts.write_text("contexts:\n  - {product: Shop, customer: a, environment: b}\n")
    code, _, err = invoke("generate", str(EXAMPLE), "--contexts", str(contexts), "--out", "x")
    assert code == 1
    assert "Shop" in err
    code, _, err = invoke("generate", "web-service@1.0.0", *CONTEXT, "--out", str(tmp_path))
    assert code == 1
    assert "no local template store" in err
    code, _, err = invoke(
        "generate", str(EXAMPLE), *CONTEXT[:-2], "--version", "1", "--instance", "x" * 60,
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 1
    assert "characters" in err


@pytest.mark.parametrize(
    "args",
    [
        ["generate", str(EXAMPLE), "--product", "shop", "--out", "o"],
        ["generate", str(EXAMPLE), *CONTEXT],
        ["generate", str(EXAMPLE), *CONTEXT, "--contexts", "c.yaml", "--out", "o"],
        ["generate", str(EXAMPLE), *CONTEXT, "--out", "o", "--workers", "0"],
        ["package"],
        ["lint"],
        ["template", "validate"],
    ],
)
def test_wrong_usage_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    (tmp_path / "c.yaml").write_text("contexts: []\n")
    monkeypatch.chdir(tmp_path)
    code, _, _ = invoke(*args)
    assert code == 2
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lint", "/does/not/exist"], "cannot read the file"),
        (["package", "/does/not/exist", "--out", "o"], "cannot open chart folder"),
        (["template", "validate", "/does/not/exist.yaml"], "cannot read template"),
    ],
)
def test_missing_files_are_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke(*args)
    assert code == 1
    assert message in err
    assert not (tmp_path / "o").exists()


def test_options_read_environment_variables(tmp_path: Path) -> None:
    env = {
        "HELMFORGE_PRODUCT": "shop",
        "HELMFORGE_CUSTOMER": "acme",
        "HELMFORGE_ENVIRONMENT": "dev",
        "HELMFORGE_INSTANCE": "e1",
        "HELMFORGE_VERSION": "1.0.0",
        "HELMFORGE_OUT": str(tmp_path),
        "HELMFORGE_PACKAGE": "1",
        "HELMFORGE_SET": "replicaCount=2 logLevel=error",
    }
    code, out, _ = invoke("generate", str(EXAMPLE), env=env)
    assert code == 0
    assert out.strip() == str(tmp_path / "shop-acme-dev-e1-1.0.0.tgz")
    code, help_text, _ = invoke("generate", "--help")
    assert code == 0
    for name in ("HELMFORGE_OUT", "HELMFORGE_SET", "HELMFORGE_CONTEXTS", "HELMFORGE_PACKAGE"):
        assert name in help_text


def test_template_validate(tmp_path: Path) -> None:
    code, out, _ = invoke("template", "validate", str(EXAMPLE))
    assert (code, out.strip()) == (0, f"{EXAMPLE}: ok")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        EXAMPLE.read_text().replace("replicas: ${values.replicaCount}", "replicas: ${values.nope}")
    )
    code, out, err = invoke("template", "validate", str(EXAMPLE), str(broken))
    assert code == 1
    assert f"{broken}:" in err
    assert "nope" in err
    assert "1 of 2 template file(s) have errors" in err


def test_lint_fails_on_schema_breaking_values(tmp_path: Path) -> None:
    invoke("generate", str(EXAMPLE), *CONTEXT, "--out", str(tmp_path))
    chart = tmp_path / "shop-acme-prod-a1"
    values = chart / "values.yaml"
    values.write_text(values.read_text() + "unknownKey: 1\n")
    code, out, err = invoke("lint", str(chart))
    assert code == 1
    assert "unknownKey" in out
    assert "lint failed" in err


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ('{"$ref": "#"}', r"#: \$ref '#' loops back to # without descending into the value"),
        (
            '{"definitions": {"a": {"allOf": [{"$ref": "#/definitions/a"}]}},'
            ' "$ref": "#/definitions/a"}',
            r"loops back to #/definitions/a",
        ),
        ('{"$ref": "#/definitions/nope"}', r"\$ref '#/definitions/nope' points at nothing"),
        ('{"$ref": "other.json#/x"}', r"only references inside this file"),
        ('{"items": ' * 100_000 + "{}" + "}" * 100_000, r"nesting too deep to read"),
        ('{"items": ' * 300 + "{}" + "}" * 300, r"#: nesting deeper than 200 levels"),
    ],
    ids=[
        "ref-to-root",
        "loop-through-allof",
        "ref-to-nowhere",
        "external",
        "100k-deep",
        "300-deep",
    ],
)
def test_lint_reports_a_recursive_or_deep_schema_in_one_line_not_a_recursion_error(
    tmp_path: Path, schema: str, message: str
) -> None:
    chart = tmp_path / "demo"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text("a: 1\n")
    (chart / "values.schema.json").write_text(schema)
    result = runner.invoke(app, ["lint", str(chart)])
    assert not isinstance(result.exception, RecursionError), result.exception
    assert result.exit_code == 1, result.output
    (problem,) = [line for line in result.stdout.splitlines() if "values.schema.json" in line]
    assert re.search(message, problem), problem
    assert result.stderr.count("\n") == 1
    assert "lint failed" in result.stderr


def test_lint_refuses_a_sparse_gigabyte_file_unread(tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 1.0.0\n")
    with (chart / "blob.bin").open("wb") as sparse:
        sparse.truncate(1 << 30)
    code, out, err = invoke("lint", str(chart))
    assert (code, out) == (1, "")
    assert "blob.bin" in err
    assert "bytes" in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    on_progress, close = charts._progress_reporter(10)
    assert on_progress is not None
    for done in (1, 5, 10):
        on_progress(done, 10)
    close()
    assert "10/10" in terminal.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert charts._progress_reporter(10)[0] is None


@pytest.mark.slow
@pytest.mark.helm
def test_real_process_fleet_uses_workers_and_summarises(tmp_path: Path) -> None:
    instances = ", ".join(f'"i{n}"' for n in range(30))
    contexts = tmp_path / "contexts.yaml"
    contexts.write_text(
        "matrix: {product: [shop], customer: [acme, globex], environment: [dev, prod],"
        f' instance: [{instances}], version: ["2.4.1"]}}\n'
    )
    command = [str(HELMFORGE), "generate", str(EXAMPLE), "--contexts", str(contexts)]
    first = subprocess.run(
        [*command, "--out", str(tmp_path / "a"), "--package"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    paths = first.stdout.split()
    assert len(paths) == 120
    assert first.stderr.startswith("generated 120 archives in ")
    assert "processes" in first.stderr
    second = subprocess.run(
        [*command, "--out", str(tmp_path / "b"), "--package", "--workers", "1"],
        capture_output=True,
        check=False,
        text=True,
    )
    assert second.returncode == 0, second.stderr
    for path in paths:
        twin = tmp_path / "b" / Path(path).name
        assert Path(path).read_bytes() == twin.read_bytes()
    assert_helm_lints(Path(paths[-1]))
    # The last context fails inside a worker process: nothing may be written.
    late = tmp_path / "late.yaml"
    late.write_text(
        contexts.read_text()
        + "contexts:\n  - {product: shop, customer: acme, environment: staging, instance: x,"
        + ' version: "1.0.0"}\n'
    )
    failing = subprocess.run(
        [
            *(str(HELMFORGE), "generate", str(EXAMPLE), "--contexts", str(late)),
            *("--out", str(tmp_path / "c"), "--package", "--workers", "2"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failing.returncode == 1
    assert failing.stderr.count("\n") == 1
    assert "shop-acme-staging-x" in failing.stderr
    assert not (tmp_path / "c").exists()
