"""Wrong usage of the commands that talk to a server (DESIGN §5, §6, §9, §10) exits 2 with
Click's usage message before any call: the server named here does not listen, so a command
that called it would exit 1 instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port

HELMFORGE = str(Path(sys.executable).with_name("helmforge"))
DEV = "shop/acme/dev/eu-1"


def _run(arguments: tuple[str, ...], server: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELMFORGE, *arguments, "--server", server],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HELMFORGE_TOKEN": "hf_unused"},
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ("values", "set", DEV),  # neither PATH=VALUE nor --unset: nothing to set
        ("values", "edit", DEV),  # no -f FILE
        ("values", "get", "shop/acme"),
        ("values", "history", "shop//dev/eu-1"),
        ("instances", "sync", "shop/acme"),
        ("values", "rollback", DEV),  # no REVISION
        ("instances", "create", DEV, "--version", "1.0.0"),  # no --template
        ("instances", "show", "shop/acme/dev/eu-1/extra"),
        ("fleet", "rollout", "web-service@1.3.0"),  # no --wave
        ("jobs", "wait"),
        ("changes", "approve", "0"),
        ("instances", "list", "--output", "bogus"),  # only text or json
        ("values", "get", DEV, "-o", "xml"),  # only yaml or json
        ("instances", "show", DEV, "-o", "yaml"),
    ],
)
def test_wrong_usage_exits_2_before_calling_the_server(arguments: tuple[str, ...]) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    result = _run(arguments, server)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Usage: helmforge " in result.stderr
    assert "did not answer" not in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ("values", "history", DEV),
        ("instances", "show", DEV),
        ("gitops", "add-repository", "gitops", "--url", "https://git.example.com/gitops.git"),
    ],
)
def test_a_server_url_holding_a_password_exits_1_without_printing_it(
    arguments: tuple[str, ...],
) -> None:
    # "helmforge server http://ci:<password>@host did not answer" used to print it.
    secret = "canary-server-url-Pw-DO-NOT-LEAK"
    server = f"http://ci:{secret}@127.0.0.1:{free_port()}"
    result = _run(arguments, server)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert secret not in result.stdout + result.stderr
    assert "--server: the server URL must not contain credentials" in result.stderr
    assert "Traceback" not in result.stderr
