"""The shape of an SSH deploy key and of pinned ``known_hosts`` lines, checked when a GitOps
repository is added rather than at its first fetch.

libgit2 reads both only when it connects: a truncated key, a body that is not base64 or a
``known_hosts`` line that does not parse used to be stored, and every instance created in the
repository then failed with 502. These checks read the structure only (PEM or OpenSSH
armour, base64, the OpenSSH magic or a DER sequence; ``HOST KEYTYPE KEY`` with the key type
inside the key's wire format); whether the key opens the door is the server's to say.
Messages name the field and the line, never the key's text.
"""

from __future__ import annotations

__all__ = ["check_known_hosts", "check_private_key"]

import base64
import binascii
import re
import struct

from helmforge.core.errors import InputError, Location

_LABELS = frozenset(
    {
        "OPENSSH PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    }
)
_ARMOUR = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\n(.*?)\n-----END \1-----", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_OPENSSH_MAGIC = b"openssh-key-v1\x00"
_KEY_TYPES = frozenset(
    {
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


def _refuse(field: str, message: str) -> InputError:
    return InputError(message, location=Location(path=field))


def check_private_key(text: str, *, field: str = "ssh_private_key") -> None:
    """``InputError`` unless ``text`` is one armoured private key (``-----BEGIN OPENSSH
    PRIVATE KEY-----`` or a PEM RSA, EC, DSA or PKCS#8 key) whose body is base64 of what that
    armour announces, with nothing but white space around it."""
    if _CONTROL.search(text):
        raise _refuse(field, f"{field} holds a control character; a private key is text")
    normal = text.replace("\r\n", "\n").strip()
    armour = _ARMOUR.fullmatch(normal)
    if armour is None or armour.group(1) not in _LABELS:
        raise _refuse(
            field,
            f"{field} must be one private key from its -----BEGIN ... PRIVATE KEY----- line to "
            "its -----END ... PRIVATE KEY----- line, each on a line of its own (OpenSSH, or "
            "PEM RSA, EC, DSA or PKCS#8)",
        )
    label, body = armour.groups()
    lines = body.split("\n")
    encrypted = any(line.startswith("Proc-Type:") for line in lines)
    data = "".join(line.strip() for line in lines if line.strip() and ":" not in line)
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(field, f"{field}: the key's body is not base64") from None
    if label == "OPENSSH PRIVATE KEY":
        if not decoded.startswith(_OPENSSH_MAGIC):
            raise _refuse(field, f"{field}: the body is not an OpenSSH key (openssh-key-v1)")
    elif not encrypted and not decoded.startswith(b"\x30"):
        raise _refuse(field, f"{field}: the body is not a DER-encoded {label.lower()}")


def check_known_hosts(text: str, *, field: str = "ssh_known_hosts") -> None:
    """``InputError`` naming the line unless every line of ``text`` (but blank lines and
    ``#`` comments) is ``[@marker] HOSTS KEYTYPE BASE64KEY [comment]`` with a known key type
    that the key's own wire format names, and at least one such line is there."""
    if _CONTROL.search(text):
        raise _refuse(field, f"{field} holds a control character; known_hosts is text")
    entries = 0
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].startswith("@"):
            words = words[1:]
        if len(words) < 3:
            raise _refuse(field, f"{field} line {number}: expected HOSTS KEYTYPE KEY")
        key_type, key = words[1], words[2]
        if key_type not in _KEY_TYPES:
            raise _refuse(
                field,
                f"{field} line {number}: key type {key_type[:40]!r} is not one of "
                f"{', '.join(sorted(_KEY_TYPES))}",
            )
        if _wire_type(key) != key_type:
            raise _refuse(
                field, f"{field} line {number}: the key is not base64 of a {key_type} key"
            )
        entries += 1
    if not entries:
        raise _refuse(field, f"{field} holds no HOSTS KEYTYPE KEY line")


def _wire_type(key: str) -> str | None:
    """The key type an SSH public key blob names first (a length-prefixed string)."""
    try:
        blob = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    name = blob[4 : 4 + length]
    return name.decode("ascii", "replace") if len(name) == length else None
