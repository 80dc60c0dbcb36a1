"""``helmforge push`` and ``helmforge versions`` against a real registry."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helmforge.cli.main import app
from tests.support.oci_charts import make_chart
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path

pytestmark = [pytest.mark.registry]

runner = CliRunner()


def write_charts(folder: Path, count: int, *, payload: str = "") -> list[str]:
    paths = []
    for i in range(count):
        path = folder / f"demo-1.0.{i}.tgz"
        path.write_bytes(make_chart("demo", f"1.0.{i}", payload=payload))
        paths.append(str(path))
    return paths


def test_push_then_repush_then_versions(private_registry: RegistryServer, tmp_path: Path) -> None:
    charts = write_charts(tmp_path, 3)
    target = f"oci://{private_registry.authority}/charts"
    result = runner.invoke(app, ["push", *charts, target, "--plain-http"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("pushed") for line in lines)
    assert f"{private_registry.authority}/charts/demo:1.0.2 sha256:" in result.stdout

    again = runner.invoke(app, ["push", *charts, target], env={"HELMFORGE_PLAIN_HTTP": "1"})
    assert again.exit_code == 0, again.output
    assert all(line.startswith("unchanged") for line in again.stdout.splitlines())

    listed = runner.invoke(app, ["versions", f"{target}/demo", "--plain-http"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.split() == ["1.0.0", "1.0.1", "1.0.2"]


def test_conflict_exits_1_with_one_line(private_registry: RegistryServer, tmp_path: Path) -> None:
    target = f"oci://{private_registry.authority}/charts"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (first,) = write_charts(tmp_path / "a", 1)
    assert runner.invoke(app, ["push", first, target, "--plain-http"]).exit_code == 0
    (changed,) = write_charts(tmp_path / "b", 1, payload="x")
    result = runner.invoke(app, ["push", changed, target, "--plain-http"])
    assert result.exit_code == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1
    assert "already published" in error_lines[0]
    assert error_lines[0].count("sha256:") == 2


def test_robot_login_with_password_stdin(basic_registry: RegistryServer, tmp_path: Path) -> None:
    charts = write_charts(tmp_path, 1)
    target = f"oci://{basic_registry.authority}/{unique_path()}"
    result = runner.invoke(
        app,
        ["push", *charts, target, "--plain-http", "--username", ROBOT, "--password-stdin"],
        input=CANARY_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert CANARY_PASSWORD not in result.output
    wrong = runner.invoke(
        app,
        ["versions", f"{target}/demo", "--plain-http", "--password-stdin"],
        input="wrong-" + CANARY_PASSWORD + "\n",
        env={"HELMFORGE_USERNAME": ROBOT},
    )
    assert wrong.exit_code == 1
    assert "refused the password" in wrong.stderr
    assert CANARY_PASSWORD not in wrong.output
    via_env = runner.invoke(
        app,
        ["versions", f"{target}/demo"],
        env={
            "HELMFORGE_USERNAME": ROBOT,
            "HELMFORGE_PASSWORD": CANARY_PASSWORD,
            "HELMFORGE_PLAIN_HTTP": "true",
        },
    )
    assert via_env.exit_code == 0, via_env.output
    assert via_env.stdout.split() == ["1.0.0"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["push"], 2, "Missing argument"),
        (["push", "only.tgz"], 2, "oci://"),
        (["push", "missing.tgz", "oci://127.0.0.1:9/x"], 1, "missing.tgz"),
        (["push", "x.tgz", "oci://127.0.0.1:9/Bad_Path"], 1, "Bad_Path"),
        (["versions", "oci://127.0.0.1:9"], 1, "name the chart"),
        (["push", "x.tgz", "oci://127.0.0.1:9/x", "--username", "u"], 1, "needs a password"),
    ],
)
def test_bad_input_exit_codes(args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert message in result.output


def test_bad_archive_is_rejected_before_pushing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not a chart")
    result = runner.invoke(app, ["push", str(bad), "oci://127.0.0.1:9/x", "--plain-http"])
    assert result.exit_code == 1
    assert "bad.tgz" in result.stderr
    assert "gzip" in result.stderr


def hostile_archive(entry: tarfile.TarInfo) -> bytes:
    chart = b"apiVersion: v2\nname: demo\nversion: 1.0.0\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("demo/Chart.yaml")
        info.size = len(chart)
        tar.addfile(info, io.BytesIO(chart))
        tar.addfile(entry)
    return gzip.compress(buffer.getvalue())


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(
    ("hostile", "message"),
    [
        (entry("demo/../../etc/passwd"), r"'\.\.'"),
        (entry("demo/link", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
        (entry("demo/hard", tarfile.LNKTYPE, "demo/Chart.yaml"), "is a link"),
        (entry("demo/dev", tarfile.CHRTYPE), "not a regular file"),
        (entry("demo/fifo", tarfile.FIFOTYPE), "not a regular file"),
    ],
    ids=["dotdot", "symlink", "hardlink", "device", "fifo"],
)
def test_push_refuses_archives_that_lint_refuses(
    private_registry: RegistryServer, tmp_path: Path, hostile: tarfile.TarInfo, message: str
) -> None:
    archive = tmp_path / "demo-1.0.0.tgz"
    archive.write_bytes(hostile_archive(hostile))
    repository = unique_path()
    target = f"oci://{private_registry.authority}/{repository}"
    result = runner.invoke(app, ["push", str(archive), target, "--plain-http"])
    assert result.exit_code == 1, result.output
    assert re.search(message, result.stderr), result.stderr
    assert "demo-1.0.0.tgz" in result.stderr
    linted = runner.invoke(app, ["lint", str(archive)])
    assert linted.exit_code == 1
    assert re.search(message, linted.stderr), linted.stderr
    listed = runner.invoke(app, ["versions", f"{target}/demo", "--plain-http"])
    assert listed.stdout.split() == []


def test_push_refuses_dev_zero_and_fifos_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.tgz"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        result = runner.invoke(app, ["push", path, "oci://127.0.0.1:9/x", "--plain-http"])
        assert result.exit_code == 1, result.output
        assert "is not a regular file" in result.stderr
        assert path in result.stderr


def test_push_over_tls_with_ca_file(
    tls_registry: tuple[RegistryServer, str], tmp_path: Path
) -> None:
    server, ca_pem = tls_registry
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca_pem)
    charts = write_charts(tmp_path, 1)
    target = f"oci://{server.authority}/charts"
    result = runner.invoke(app, ["push", *charts, target], env={"HELMFORGE_CA_FILE": str(ca_file)})
    assert result.exit_code == 0, result.output
    untrusted = runner.invoke(app, ["versions", f"{target}/demo"])
    assert untrusted.exit_code == 1
    assert "not trusted" in untrusted.stderr


def test_push_process_does_not_import_httpx_command_line_client(
    private_registry: RegistryServer, tmp_path: Path
) -> None:
    """Defect: ``import httpx`` also imported httpx's own CLI (click, rich, pygments), about
    half the start-up of every ``helmforge push``; a whole process shows what it loads."""
    (chart,) = write_charts(tmp_path, 1)
    target = f"oci://{private_registry.authority}/charts"
    script = (
        "import sys\n"
        "from helmforge.cli.main import run\n"
        f"sys.argv = ['helmforge', 'push', {chart!r}, {target!r}, '--plain-http']\n"
        "try:\n    run()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'httpx' in sys.modules\n"
        "print(sorted(m for m in ('click', 'rich', 'pygments') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_repush_process_imports_neither_typer_nor_pydantic(
    private_registry: RegistryServer, tmp_path: Path
) -> None:
    """Defect: a re-push of published charts was 2.8-4x faster than the first push (goal >= 5)
    because every start paid for Typer's pydantic coercion (~100 ms of CPU, a third of it),
    then for importing Typer itself (7% of its instructions): push's plain arguments are now
    read without
    either (helmforge.cli.plain_arguments). The process's own modules, output and exit code
    show it."""
    charts = write_charts(tmp_path, 2)
    target = f"oci://{private_registry.authority}/charts"
    assert runner.invoke(app, ["push", *charts, target, "--plain-http"]).exit_code == 0
    script = (
        "import sys\n"
        "from helmforge.cli.main import run\n"
        f"sys.argv = ['helmforge', 'push', *{charts!r}, {target!r}, '--plain-http']\n"
        "try:\n    run()\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = ('pydantic', 'typer', 'sqlalchemy', 'fastapi', 'jsonschema')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules), 'EXIT', code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    *output, last = done.stdout.splitlines()
    assert last == "LOADED [] EXIT 0"
    assert [line.split()[0] for line in output] == ["unchanged", "unchanged"]
    # A usage error raised by the command itself is still Typer's to report.
    wrong = subprocess.run(
        [sys.executable, "-c", script.replace(f", {target!r}", "")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Usage: helmforge push" in wrong.stderr
    assert wrong.stdout.splitlines()[-1].endswith("EXIT 2")
