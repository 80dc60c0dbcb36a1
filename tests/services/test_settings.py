"""Settings come from the environment passed in, with safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from helmforge.core.errors import InputError
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.settings import DEFAULT_MAX_BODY_BYTES, load_settings


def test_defaults_put_a_sqlite_database_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"HOME": str(tmp_path)})
    assert settings.data_dir == tmp_path / ".local" / "share" / "helmforge"
    assert settings.database_url == f"sqlite:///{settings.data_dir / 'helmforge.db'}"
    assert (settings.log_format, settings.max_body_bytes, settings.seed_examples) == (
        "text",
        DEFAULT_MAX_BODY_BYTES,
        True,
    )
    assert settings.registry_deadline == 30.0
    assert settings.helm_deadline == 30.0
    xdg = load_settings({"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert xdg.data_dir == tmp_path / "xdg" / "helmforge"


def test_environment_overrides(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "HELMFORGE_DATA_DIR": str(tmp_path),
            "HELMFORGE_DATABASE_URL": "postgresql://db/helmforge",
            "HELMFORGE_LOG_FORMAT": "JSON",
            "HELMFORGE_MAX_BODY_BYTES": "1024",
            "HELMFORGE_SEED_EXAMPLES": "false",
            "HELMFORGE_THREADS": "2",
            "HELMFORGE_REGISTRY_DEADLINE": "5",
            "HELMFORGE_HELM_DEADLINE": "7",
        }
    )
    assert settings.data_dir == tmp_path
    assert settings.database_url == "postgresql://db/helmforge"
    assert settings.log_format == "json"
    assert settings.max_body_bytes == 1024
    assert settings.seed_examples is False
    assert settings.threads == 2
    assert settings.registry_deadline == 5.0
    assert settings.helm_deadline == 7.0
    assert GitWorkspace.from_settings(settings, b"k" * 32).helm_deadline == 7.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HELMFORGE_LOG_FORMAT", "xml"),
        ("HELMFORGE_MAX_BODY_BYTES", "-1"),
        ("HELMFORGE_MAX_BODY_BYTES", "lots"),
        ("HELMFORGE_SEED_EXAMPLES", "maybe"),
        ("HELMFORGE_THREADS", "0"),
        ("HELMFORGE_REGISTRY_DEADLINE", "0"),
        ("HELMFORGE_HELM_DEADLINE", "never"),
        ("HELMFORGE_ARGOCD_DEADLINE", "soon"),
        ("HELMFORGE_ARGOCD_POLL_INTERVAL", "0"),
        ("HELMFORGE_ARGOCD_APPLICATIONSET", "sometimes"),
        ("HELMFORGE_AUTO_SYNC_ENVIRONMENTS", "dev,Sand box"),
    ],
)
def test_bad_values_are_input_errors_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(InputError, match=name):
        load_settings({"HOME": "/nonexistent", name: value})


_OIDC = {
    "HOME": "/nonexistent",
    "HELMFORGE_OIDC_ISSUER": "https://id.example.com/realms/acme/",
    "HELMFORGE_OIDC_CLIENT_ID": "helmforge",
    "HELMFORGE_OIDC_CLIENT_SECRET": "s3cret",
}


def test_single_sign_on_is_off_without_an_issuer() -> None:
    assert load_settings({"HOME": "/nonexistent"}).oidc is None


def test_single_sign_on_settings_from_the_environment() -> None:
    environ = {
        **_OIDC,
        "HELMFORGE_OIDC_GROUPS_CLAIM": "roles",
        "HELMFORGE_OIDC_ALLOWED_GROUPS": "platform-sre, devs,",
        "HELMFORGE_PUBLIC_URL": "https://helmforge.example.com/",
        "HELMFORGE_OIDC_DEADLINE": "3",
        "HELMFORGE_OIDC_GROUPS_LIFETIME": "300",
    }
    oidc = load_settings(environ).oidc
    assert oidc is not None
    assert oidc.issuer == "https://id.example.com/realms/acme"
    assert (oidc.client_id, oidc.client_secret, oidc.groups_claim) == (
        "helmforge",
        "s3cret",
        "roles",
    )
    assert oidc.allowed_groups == frozenset({"platform-sre", "devs"})
    assert oidc.public_url == "https://helmforge.example.com"
    assert (oidc.deadline, oidc.groups_lifetime) == (3.0, 300.0)
    assert "s3cret" not in repr(oidc)
    defaults = load_settings(_OIDC).oidc
    assert defaults is not None
    assert (
        defaults.groups_claim,
        defaults.allowed_groups,
        defaults.public_url,
        defaults.groups_lifetime,
    ) == ("groups", frozenset(), None, 900.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HELMFORGE_OIDC_ISSUER", "http://id.example.com"),  # plain http off loopback
        ("HELMFORGE_OIDC_ISSUER", "https://id.example.com/?realm=x"),
        ("HELMFORGE_OIDC_CLIENT_ID", ""),
        ("HELMFORGE_PUBLIC_URL", "ftp://helmforge.example.com"),
        ("HELMFORGE_OIDC_DEADLINE", "0"),
        ("HELMFORGE_OIDC_GROUPS_LIFETIME", "15m"),
    ],
)
def test_bad_single_sign_on_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(InputError, match=name):
        load_settings({**_OIDC, name: value})


def test_environments_default_and_come_from_helmforge_environments(tmp_path: Path) -> None:
    base = {"HELMFORGE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).environments == ("dev", "sit", "uat", "prod")
    given = load_settings({**base, "HELMFORGE_ENVIRONMENTS": " dev, qa ,prod,qa"})
    assert given.environments == ("dev", "qa", "prod")
    with pytest.raises(InputError, match=r"HELMFORGE_ENVIRONMENTS=.*'Prod!' is not a DNS-1123"):
        load_settings({**base, "HELMFORGE_ENVIRONMENTS": "dev,Prod!"})


def test_argocd_sync_settings_default_and_come_from_the_environment(tmp_path: Path) -> None:
    base = {"HELMFORGE_DATA_DIR": str(tmp_path)}
    defaults = load_settings(base)
    assert (defaults.argocd_deadline, defaults.auto_sync_environments) == (120.0, {"dev"})
    assert (defaults.argocd_poll_interval, defaults.argocd_applicationset) == (2.0, False)
    assert load_settings({**base, "HELMFORGE_ARGOCD_APPLICATIONSET": "true"}).argocd_applicationset
    given = load_settings(
        {**base, "HELMFORGE_ARGOCD_DEADLINE": "45", "HELMFORGE_AUTO_SYNC_ENVIRONMENTS": "dev, sit"}
    )
    assert (given.argocd_deadline, given.auto_sync_environments) == (45.0, {"dev", "sit"})
    assert load_settings(
        {**base, "HELMFORGE_AUTO_SYNC_ENVIRONMENTS": ""}
    ).auto_sync_environments == (frozenset())
