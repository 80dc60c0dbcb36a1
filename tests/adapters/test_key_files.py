"""The secret key file: created once with mode 0600, shared by concurrent first starts, refused
when others may read it; HELMFORGE_SECRET_KEY takes precedence and is never printed."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helmforge.adapters.key_files import load_or_create_key
from helmforge.adapters.secrets import new_key
from helmforge.core.errors import InputError
from helmforge.services.registries import secret_key_for
from helmforge.services.settings import load_settings


def test_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_key(path), range(16)))
    assert len(keys) == 1


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(InputError, match="chmod 600"):
        load_or_create_key(path)


def test_a_broken_key_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text("not a key")
    os.chmod(path, 0o600)
    with pytest.raises(InputError) as caught:
        load_or_create_key(path)
    assert str(path) in str(caught.value)
    assert "not a key" not in str(caught.value)


def test_environment_key_wins_and_is_never_printed(tmp_path: Path) -> None:
    key = new_key().decode()
    settings = load_settings({"HELMFORGE_DATA_DIR": str(tmp_path), "HELMFORGE_SECRET_KEY": key})
    assert key not in repr(settings)
    assert secret_key_for(settings) == key.encode()
    assert not (tmp_path / "secret.key").exists()
    without = load_settings({"HELMFORGE_DATA_DIR": str(tmp_path)})
    assert secret_key_for(without) == (tmp_path / "secret.key").read_bytes().strip()


def test_a_malformed_environment_key_is_an_input_error_without_the_value(tmp_path: Path) -> None:
    settings = load_settings(
        {"HELMFORGE_DATA_DIR": str(tmp_path), "HELMFORGE_SECRET_KEY": "short-secret-value"}
    )
    with pytest.raises(InputError, match="HELMFORGE_SECRET_KEY") as caught:
        secret_key_for(settings)
    assert "short-secret-value" not in str(caught.value)
