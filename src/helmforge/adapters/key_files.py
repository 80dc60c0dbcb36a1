"""The server's secret key file: created once in the data directory, readable by its owner only.

``load_or_create_key(path)`` returns the Fernet key stored at ``path``, creating it (mode 0600,
atomically, so concurrent first starts agree on one key) when it does not exist. A key file
that others may read is refused rather than used.
"""

from __future__ import annotations

__all__ = ["check_key", "load_or_create_key"]

import contextlib
import os
import stat
import uuid
from pathlib import Path

from helmforge.adapters.secrets import check_key_format, new_key
from helmforge.core.errors import ExternalServiceError, InputError, Location


def check_key(key: bytes, *, source: str) -> bytes:
    """``key`` when it is a valid Fernet key; ``InputError`` naming ``source`` (never the key)."""
    try:
        check_key_format(key)
    except InputError:
        raise InputError(
            "the secret key is not a urlsafe-base64 32-byte Fernet key; make one with "
            "python3 -c 'from cryptography.fernet import Fernet as F; "
            "print(F.generate_key().decode())'",
            location=Location(source),
        ) from None
    return key


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"the secret key file is readable by others (mode {stat.S_IMODE(mode):o}); "
            f"run chmod 600 {path}",
            location=Location(str(path)),
        )
    return check_key(path.read_bytes().strip(), source=str(path))


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``, created with mode 0600 on first use; raises ``InputError`` (bad or
    exposed key file) or ``ExternalServiceError`` (the data directory cannot be written)."""
    try:
        if path.exists():
            return _read(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(new_key() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            # Atomic, and refuses to replace a key another process made meanwhile.
            with contextlib.suppress(FileExistsError):
                os.link(scratch, path)
        finally:
            scratch.unlink(missing_ok=True)
        return _read(path)
    except OSError as error:
        raise ExternalServiceError(
            f"cannot read or create the secret key file {path}: {error.strerror}"
        ) from error
