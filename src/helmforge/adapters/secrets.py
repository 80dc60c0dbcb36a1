"""Encrypt secrets at rest (registry passwords, robot tokens) with Fernet.

The key comes in as an argument: callers (the server's settings) read it from their
configuration; nothing here reads the environment. Generate one with ``new_key()``.
"""

from __future__ import annotations

__all__ = [
    "check_key_format",
    "decrypt_secret",
    "encrypt_secret",
    "new_key",
    "open_registry",
    "seal_registry",
]

import base64
import binascii
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from helmforge.core.errors import InputError
from helmforge.core.oci.references import Registry
from helmforge.core.secrets import Secret

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

# cryptography is imported when a secret is sealed or opened, not at start: a server worker
# that never touches a registry password does not carry it (about 8 MB per process).


def new_key() -> bytes:
    """A fresh urlsafe-base64 Fernet key (32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32))


def check_key_format(key: bytes) -> None:
    """Raise ``InputError`` unless ``key`` is a urlsafe-base64 32-byte Fernet key."""
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError, TypeError):
        raw = b""
    if len(raw) != 32:
        raise InputError("the encryption key is not a urlsafe-base64 32-byte Fernet key")


def _fernet(key: bytes) -> Fernet:
    check_key_format(key)
    from cryptography.fernet import Fernet

    return Fernet(key)


def encrypt_secret(secret: Secret, *, key: bytes) -> bytes:
    """The secret encrypted and authenticated with ``key`` (a Fernet token, ASCII)."""
    return _fernet(key).encrypt(secret.reveal().encode())


def decrypt_secret(token: bytes, *, key: bytes) -> Secret:
    """The secret back from ``encrypt_secret``; ``InputError`` for a wrong key or tampering."""
    from cryptography.fernet import InvalidToken

    fernet = _fernet(key)
    try:
        return Secret(fernet.decrypt(token).decode())
    except InvalidToken:
        raise InputError("the stored secret cannot be decrypted with this key") from None


def seal_registry(registry: Registry, *, key: bytes) -> dict[str, str | bool | None]:
    """A registry as a storable record: the password encrypted, everything else plain."""
    return {
        "url": registry.url,
        "ca_pem": registry.ca_pem,
        "plain_http": registry.plain_http,
        "username": registry.username,
        "password_encrypted": (
            encrypt_secret(registry.password, key=key).decode("ascii")
            if registry.password is not None
            else None
        ),
    }


def open_registry(record: Mapping[str, object], *, key: bytes) -> Registry:
    """The ``Registry`` back from ``seal_registry``; ``InputError`` for a wrong key or record."""
    sealed = record.get("password_encrypted")
    url, ca_pem, username = record.get("url"), record.get("ca_pem"), record.get("username")
    if not isinstance(url, str):
        raise InputError("registry record without a url")
    return Registry(
        url,
        ca_pem=ca_pem if isinstance(ca_pem, str) else None,
        plain_http=record.get("plain_http") is True,
        username=username if isinstance(username, str) else None,
        password=decrypt_secret(sealed.encode("ascii"), key=key)
        if isinstance(sealed, str)
        else None,
    )
