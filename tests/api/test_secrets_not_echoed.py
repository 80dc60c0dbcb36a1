"""No answer repeats a secret it was given: a password in a registry URL's userinfo (API and
CLI; the web page in tests/web/test_secrets_not_echoed.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helmforge.cli.main import app as cli
from tests.api.conftest import Api
from tests.support.oci_charts import make_chart

SECRET = "hunter2-Pw-DO-NOT-LEAK"
URLS = [
    f"oci://robot:{SECRET}@registry.example.com/charts",
    f"oci://{SECRET}@registry.example.com",
    f"https://robot:{SECRET}@registry.example.com/charts",
]


@pytest.mark.parametrize("url", URLS)
def test_a_password_in_a_registry_urls_userinfo_is_refused_without_echoing_it(
    api: Api, url: str
) -> None:
    response = api.client.post("/api/v1/registries", json={"name": "lab", "url": url})
    assert response.status_code == 422, response.text
    assert SECRET not in response.text
    assert "***@registry.example.com" in response.json()["message"]
    assert api.client.get("/api/v1/registries").json() == []


def test_cli_push_to_a_url_with_a_password_in_it_does_not_print_it(tmp_path: Path) -> None:
    chart = tmp_path / "demo-1.0.0.tgz"
    chart.write_bytes(make_chart("demo", "1.0.0"))
    result = CliRunner().invoke(cli, ["push", str(chart), URLS[0]])
    assert result.exit_code == 1, result.output
    assert SECRET not in result.output
    assert "holds credentials before the host (expected" in result.output
