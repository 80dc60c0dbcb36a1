"""``helmforge serve``, ``users``, ``tokens`` and ``build --server``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from helmforge.cli.main import app
from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import AuthenticationError
from helmforge.server.app import state_of
from helmforge.services import accounts
from helmforge.services.settings import load_settings
from helmforge.services.stores import open_store
from tests.support.apps import make_app
from tests.support.oidc import sso_user, strict_provider
from tests.support.servers import free_port, serve, wait_until_ready

HELMFORGE = str(Path(sys.executable).with_name("helmforge"))
CONTEXT_OPTIONS = [
    "--product", "ledger", "--customer", "acme", "--environment", "prod",
    "--instance", "a1", "--version", "3.4.0",
]  # fmt: skip


@contextlib.contextmanager
def _store(environment: Mapping[str, str] = os.environ) -> Iterator[sessionmaker[Session]]:
    store = open_store(load_settings(environment))
    try:
        yield store.sessions
    finally:
        store.engine.dispose()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_users_create_reads_the_password_from_stdin(runner: CliRunner) -> None:
    created = runner.invoke(
        app,
        ["users", "create", "carol", "--role", "creator", "--password-stdin"],
        input="a long enough password\n",
    )
    assert created.exit_code == 0, created.output
    assert "a long enough password" not in created.stdout
    with _store() as sessions:
        principal = accounts.authenticate_password(
            sessions, "carol", "a long enough password", source="cli-test"
        )
    assert principal.role == "creator"
    again = runner.invoke(
        app, ["users", "create", "carol", "--role", "creator", "--password-stdin"], input="x" * 20
    )
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert runner.invoke(app, ["users", "create", "dave", "--role", "root"]).exit_code == 1


def test_users_create_without_stdin_prints_a_generated_password_once(runner: CliRunner) -> None:
    created = runner.invoke(app, ["users", "create", "erin", "--role", "user"])
    assert created.exit_code == 0
    password = created.stdout.strip()
    assert len(password) >= 20
    with _store() as sessions:
        accounts.authenticate_password(sessions, "erin", password, source="cli-test")
    listing = runner.invoke(app, ["users", "list"])
    assert "erin\tuser" in listing.stdout
    assert password not in listing.stdout


def test_tokens_create_prints_the_token_once_and_revoke_stops_it(runner: CliRunner) -> None:
    runner.invoke(app, ["users", "create", "ci", "--role", "user"])
    created = runner.invoke(app, ["tokens", "create", "--user", "ci", "--label", "pipeline"])
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert re.fullmatch(r"hf_[0-9a-f]{12}_\S{43}", token)
    with _store() as sessions:
        assert accounts.principal_for_token(sessions, token).name == "ci"
        listing = runner.invoke(app, ["tokens", "list"])
        assert token not in listing.stdout
        token_id = listing.stdout.split("\t", 1)[0]
        assert runner.invoke(app, ["tokens", "revoke", token_id]).exit_code == 0
        with pytest.raises(AuthenticationError, match="invalid or revoked"):
            accounts.principal_for_token(sessions, token)
    missing = runner.invoke(app, ["tokens", "create", "--user", "nobody"])
    assert missing.exit_code == 1


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real server (uvicorn on loopback) and an admin token."""
    application, _ = make_app(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "data")
    token = accounts.create_token(state_of(application).sessions, user="admin", actor=SYSTEM).token
    with serve(application) as url:
        yield url, token
    state_of(application).engine.dispose()


def test_build_on_a_server_downloads_the_recorded_archive(
    runner: CliRunner, server: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, token = server
    out = tmp_path / "out"
    monkeypatch.setenv("HELMFORGE_TOKEN", token)
    result = runner.invoke(
        app,
        ["build", "web-service@1.2.0", "--server", url, "--out", str(out), *CONTEXT_OPTIONS,
         "--set", "replicaCount=5"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    archive = Path(result.stdout.strip())
    assert archive == out / "ledger-acme-prod-a1-3.4.0.tgz"
    builds = httpx.get(f"{url}/api/v1/charts", headers={"Authorization": f"Bearer {token}"}).json()
    assert builds[0]["digest"] == "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    assert builds[0]["values"] == {"replicaCount": 5}
    assert sorted(p.name for p in out.iterdir()) == [archive.name]


def test_build_on_a_server_fails_cleanly(
    runner: CliRunner, server: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, token = server
    out = tmp_path / "out"
    monkeypatch.setenv("HELMFORGE_TOKEN", "hf_000000000000_" + "A" * 43)
    denied = runner.invoke(
        app, ["build", "web-service", "--server", url, "--out", str(out), *CONTEXT_OPTIONS]
    )
    assert denied.exit_code == 1
    assert "401" in denied.stderr
    assert "A" * 43 not in denied.stderr
    monkeypatch.setenv("HELMFORGE_TOKEN", token)
    missing = runner.invoke(
        app, ["build", "nope@1.0.0", "--server", url, "--out", str(out), *CONTEXT_OPTIONS]
    )
    assert missing.exit_code == 1
    assert "404" in missing.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_serve_starts_prints_the_first_admin_once_and_answers(tmp_path: Path) -> None:
    port = free_port()
    environment = {**os.environ, "HELMFORGE_DATA_DIR": str(tmp_path / "data")}
    first = subprocess.Popen(
        [HELMFORGE, "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", first)
        listing = httpx.get(f"http://127.0.0.1:{port}/api/v1/templates")
        assert listing.status_code == 401
    finally:
        first.terminate()
        output, _ = first.communicate(timeout=10)
    match = re.search(r"generated password\n\s+(\S+)", output)
    assert match, output
    with _store(environment) as sessions:
        accounts.authenticate_password(sessions, "admin", match.group(1), source="cli-test")
    # A second start finds the admin and prints no password.
    again = subprocess.run(
        [HELMFORGE, "serve", "--port", "0", "--host", "256.0.0.1"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "generated password" not in again.stdout


def test_serve_with_a_bad_database_url_fails_in_one_line(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELMFORGE_DATABASE_URL", "mysql://user:s3cret@db/helmforge")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "unsupported database" in result.stderr
    assert "s3cret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_serve_with_workers_prepares_the_store_once(tmp_path: Path) -> None:
    port = free_port()
    environment = {**os.environ, "HELMFORGE_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [HELMFORGE, "serve", "--port", str(port), "--workers", "2"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process)
        answers = [httpx.get(f"http://127.0.0.1:{port}/healthz") for _ in range(6)]
        assert all(response.status_code == 200 for response in answers)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert output.count("generated password") == 1


def test_users_set_password_forces_a_change_at_sign_in(runner: CliRunner) -> None:
    assert runner.invoke(app, ["users", "create", "frank", "--role", "user"]).exit_code == 0
    generated = runner.invoke(app, ["users", "set-password", "frank"])
    assert generated.exit_code == 0, generated.output
    password = generated.stdout.strip()
    assert len(password) >= 20
    assert "must change it" in generated.stderr
    with _store() as sessions:
        frank = accounts.authenticate_password(sessions, "frank", password, source="cli-test")
        state = accounts.signed_in_user(sessions, frank.id)
    assert state is not None
    assert state.must_change_password
    given = runner.invoke(
        app,
        ["users", "set-password", "frank", "--password-stdin"],
        input="another long password\n",
    )
    assert given.exit_code == 0, given.output
    assert "another long password" not in given.output
    with _store() as sessions:
        accounts.authenticate_password(sessions, "frank", "another long password", source="cli")
    short = runner.invoke(app, ["users", "set-password", "frank", "--password-stdin"], input="ab\n")
    assert short.exit_code == 1
    assert "at least 12" in short.stderr
    assert "ab\n" not in short.stderr
    missing = runner.invoke(app, ["users", "set-password", "nobody"])
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr


def test_users_set_password_revoke_tokens_ends_the_users_api_tokens(runner: CliRunner) -> None:
    assert runner.invoke(app, ["users", "create", "gina", "--role", "user"]).exit_code == 0
    with _store() as sessions:
        token = accounts.create_token(sessions, user="gina", actor=SYSTEM).token
    kept = runner.invoke(app, ["users", "set-password", "gina"])
    assert kept.exit_code == 0, kept.output
    with _store() as sessions:
        assert accounts.principal_for_token(sessions, token).name == "gina"
    revoked = runner.invoke(app, ["users", "set-password", "gina", "--revoke-tokens"])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked 1 API token(s) of gina" in revoked.stderr
    with (
        _store() as sessions,
        pytest.raises(AuthenticationError, match=r"^invalid or revoked API token$"),
    ):
        accounts.principal_for_token(sessions, token)


def test_users_set_password_of_an_sso_user_says_it_has_none_and_sign_out_applies(
    runner: CliRunner,
) -> None:
    # Defect: "user 'carol@sso' does not exist" for a user the Users list shows.
    with _store() as sessions, strict_provider() as provider:
        carol = sso_user(sessions, provider)
        token = accounts.create_token(sessions, user=carol.name, actor=SYSTEM).token
    refused = runner.invoke(app, ["users", "set-password", carol.name])
    assert refused.exit_code == 1
    assert "carol@sso signs in through single sign-on and has no password" in refused.stderr
    assert "helmforge users sign-out carol@sso --revoke-tokens" in refused.stderr
    assert refused.stdout == ""  # no generated password to hand out
    done = runner.invoke(app, ["users", "sign-out", carol.name, "--revoke-tokens"])
    assert done.exit_code == 0, done.output
    assert "signed out carol@sso: 0 web session(s) ended, 1 API token(s) revoked" in done.stderr
    with (
        _store() as sessions,
        pytest.raises(AuthenticationError, match=r"^invalid or revoked API token$"),
    ):
        accounts.principal_for_token(sessions, token)
    missing = runner.invoke(app, ["users", "sign-out", "nobody"])
    assert missing.exit_code == 1
    assert "user 'nobody' does not exist" in missing.stderr
