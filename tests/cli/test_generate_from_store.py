"""``helmforge generate NAME[@VERSION]``: from the local store and from a server's store."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from helmforge.cli.main import app
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts, template_store
from helmforge.services.settings import load_settings
from helmforge.services.stores import open_store
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.helm import assert_helm_lints
from tests.support.servers import free_port, serve

CONTEXT = [
    "--product", "shop", "--customer", "acme", "--environment", "prod",
    "--instance", "a1", "--version", "2.4.1",
]  # fmt: skip
CONTEXTS_YAML = (
    "matrix: {product: [shop], customer: [acme, globex], environment: [dev, prod],"
    ' instance: [a1], version: ["2.4.1"]}\n'
)
# (version, status): 1.2.0 ends deprecated, 1.3.0 is the newest published, 1.4.0 a draft.
STORED = (("1.2.0", "deprecated"), ("1.3.0", "published"), ("1.4.0", "draft"))

pytestmark = pytest.mark.xdist_group("generation")
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _fill(sessions: sessionmaker[Session]) -> None:
    for version, status in STORED:
        template_store.create_version(sessions, _text(version), actor=SYSTEM)
        if status != "draft":
            template_store.publish_version(sessions, "web-service", version, actor=SYSTEM)
        if status == "deprecated":
            template_store.deprecate_version(sessions, "web-service", version, actor=SYSTEM)


@pytest.fixture
def local_store(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local store (SQLite and PostgreSQL) holding the STORED versions of web-service."""
    monkeypatch.setenv("HELMFORGE_DATABASE_URL", database_url)
    store = open_store(load_settings(os.environ))
    try:
        _fill(store.sessions)
    finally:
        store.engine.dispose()


def _text(version: str) -> str:
    """The example at ``version``, with non-ASCII text that ends up in the chart."""
    text = example_text(version=version)
    return text.replace("description: Stateless", "description: Café — stateless", 1)


def _template_file(tmp_path: Path, version: str) -> Path:
    path = tmp_path / f"web-service-{version}.yaml"
    path.write_text(_text(version), "utf-8")
    return path


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.tgz")}


def test_store_charts_are_byte_identical_to_file_charts(local_store: None, tmp_path: Path) -> None:
    template_file = _template_file(tmp_path, "1.3.0")
    for source, out in ((str(template_file), "from-file"), ("web-service", "from-store")):
        code, stdout, err = invoke(
            "generate", source, *CONTEXT, "--package", "--set", "replicaCount=3",
            "--out", str(tmp_path / out),
        )  # fmt: skip
        assert (code, err) == (0, ""), err
        assert stdout.strip() == str(tmp_path / out / "shop-acme-prod-a1-2.4.1.tgz")
    from_file = _digests(tmp_path / "from-file")
    assert len(from_file) == 1
    assert from_file == _digests(tmp_path / "from-store")


def test_store_fleets_match_file_fleets(local_store: None, tmp_path: Path) -> None:
    contexts = tmp_path / "contexts.yaml"
    contexts.write_text(CONTEXTS_YAML)
    template_file = _template_file(tmp_path, "1.3.0")
    for source, out in ((str(template_file), "a"), ("web-service@1.3.0", "b")):
        code, _, err = invoke(
            "generate", source, "--contexts", str(contexts), "--package", "--out",
            str(tmp_path / out),
        )  # fmt: skip
        assert code == 0, err
    assert len(_digests(tmp_path / "a")) == 4
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


@pytest.mark.helm
def test_a_store_chart_passes_helm_lint(local_store: None, tmp_path: Path) -> None:
    code, stdout, err = invoke("generate", "web-service", *CONTEXT, "--out", str(tmp_path / "o"))
    assert code == 0, err
    chart = Path(stdout.strip())
    assert chart == tmp_path / "o" / "shop-acme-prod-a1"
    assert_helm_lints(chart)


def test_draft_unknown_and_deprecated_versions(local_store: None, tmp_path: Path) -> None:
    out = tmp_path / "o"
    code, _, err = invoke("generate", "web-service@1.4.0", *CONTEXT, "--out", str(out))
    assert code == 1
    assert "web-service@1.4.0 is a draft" in err
    assert "published versions of web-service: 1.3.0" in err
    code, _, err = invoke("generate", "web-service@9.9.9", *CONTEXT, "--out", str(out))
    assert (code, err.count("\n")) == (1, 1)
    assert "web-service@9.9.9 does not exist" in err
    assert "1.3.0" in err
    code, _, err = invoke("generate", "nope", *CONTEXT, "--out", str(out))
    assert (code, err.count("\n")) == (1, 1)
    assert "template nope does not exist" in err
    assert "published templates: web-service@1.3.0" in err
    assert not out.exists()
    code, _, err = invoke("generate", "web-service@1.2.0", *CONTEXT, "--out", str(out))
    assert code == 0
    assert err == (
        "helmforge: warning: template web-service@1.2.0 is deprecated; "
        "the newest published is 1.3.0\n"
    )


def test_file_paths_and_references_are_told_apart(tmp_path: Path) -> None:
    code, _, err = invoke("generate", "missing.yaml", *CONTEXT, "--out", str(tmp_path))
    assert (code, err) == (1, "helmforge: error: template file 'missing.yaml' not found\n")
    code, _, err = invoke("generate", "Web@1.0.0", *CONTEXT, "--out", str(tmp_path))
    assert code == 1
    assert "not a DNS-1123 label" in err
    code, _, err = invoke("generate", "web@1.0", *CONTEXT, "--out", str(tmp_path))
    assert code == 1
    assert "'1.0' is not a SemVer version" in err


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real server (uvicorn on loopback) holding the STORED versions, and an admin token."""
    application, _ = make_app(
        f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "data", seed_examples=False
    )
    sessions = state_of(application).sessions
    _fill(sessions)
    token = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
    with serve(application) as url:
        yield url, token
    state_of(application).engine.dispose()


@pytest.mark.helm
def test_generate_from_a_server_matches_the_file(
    server: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, token = server
    monkeypatch.setenv("HELMFORGE_TOKEN", token)
    code, _, err = invoke(
        "generate", str(_template_file(tmp_path, "1.3.0")), *CONTEXT, "--package",
        "--out", str(tmp_path / "file"),
    )  # fmt: skip
    assert code == 0, err
    code, stdout, err = invoke(
        "generate", "web-service", "--server", url, *CONTEXT, "--package",
        "--out", str(tmp_path / "server"),
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    assert _digests(tmp_path / "server") == _digests(tmp_path / "file")
    monkeypatch.setenv("HELMFORGE_SERVER", url)
    code, stdout, err = invoke("generate", "web-service@1.3.0", *CONTEXT, "--out", str(tmp_path))
    assert code == 0, err
    assert_helm_lints(Path(stdout.strip()))
    code, _, err = invoke("generate", "web-service@1.4.0", *CONTEXT, "--out", str(tmp_path / "x"))
    assert code == 1
    assert "is a draft" in err
    assert "published versions of web-service: 1.3.0" in err
    code, _, err = invoke("generate", "nope@1.0.0", *CONTEXT, "--out", str(tmp_path / "x"))
    assert (code, err.count("\n")) == (1, 1)
    assert "template nope does not exist" in err
    assert "web-service@1.3.0" in err
    assert not (tmp_path / "x").exists()


def test_generate_from_a_server_fails_in_one_line_without_the_token(
    server: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    secret = "hf_000000000000_" + "S" * 43
    monkeypatch.setenv("HELMFORGE_TOKEN", secret)
    out = tmp_path / "o"
    code, stdout, err = invoke(
        "generate", "web-service", "--server", url, *CONTEXT, "--out", str(out)
    )
    assert (code, err.count("\n")) == (1, 1)
    assert "401" in err
    assert secret not in err + stdout
    assert "S" * 20 not in err + stdout
    code, _, err = invoke(
        "generate", "web-service", "--server", f"http://127.0.0.1:{free_port()}", *CONTEXT,
        "--out", str(out),
    )  # fmt: skip
    assert (code, err.count("\n")) == (1, 1)
    assert "did not answer" in err
    assert secret not in err
    monkeypatch.delenv("HELMFORGE_TOKEN")
    code, _, err = invoke("generate", "web-service", "--server", url, *CONTEXT, "--out", str(out))
    assert code == 1
    assert "HELMFORGE_TOKEN" in err
    assert not out.exists()
