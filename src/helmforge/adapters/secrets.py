"""Encrypt secrets at rest (registry passwords, robot tokens) with Fernet.

The key comes in as an argument: callers (the server's settings) read it from their
configuration; nothing here reads the environment. Generate one with ``new_key()``.
"""

from __future__ import annotations

__all__ = ["decrypt_secret", "encrypt_secret", "new_key"]

from cryptography.fernet import Fernet, InvalidToken

from helmforge.core.errors import InputError
from helmforge.core.secrets import Secret


def new_key() -> bytes:
    """A fresh urlsafe-base64 Fernet key (32 random bytes)."""
    return Fernet.generate_key()


def _fernet(key: bytes) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise InputError("the encryption key is not a urlsafe-base64 32-byte Fernet key") from None


def encrypt_secret(secret: Secret, *, key: bytes) -> bytes:
    """The secret encrypted and authenticated with ``key`` (a Fernet token, ASCII)."""
    return _fernet(key).encrypt(secret.reveal().encode())


def decrypt_secret(token: bytes, *, key: bytes) -> Secret:
    """The secret back from ``encrypt_secret``; ``InputError`` for a wrong key or tampering."""
    try:
        return Secret(_fernet(key).decrypt(token).decode())
    except InvalidToken:
        raise InputError("the stored secret cannot be decrypted with this key") from None
