"""An SSH deploy key and pinned ``known_hosts`` lines, read when a GitOps repository is added
rather than at its first fetch.

libgit2 reads both only when it connects: a truncated key, a body that is not a key or a
``known_hosts`` line that does not parse used to be stored, and every instance created in the
repository then failed with 502. Both are read here with ``cryptography``'s SSH and PEM
loaders (the key as libssh2 will read it: OpenSSH, or PEM RSA, EC, DSA or PKCS#8; each host
key as ``KEYTYPE BASE64KEY``, its wire format naming that type). A key with a passphrase is
refused: helmforge stores the key encrypted itself and gives libgit2 none. Whether the key
opens the door is the server's to say. Messages name the field and the line, never the key's
text, nor what the loader said of it.
"""

from __future__ import annotations

__all__ = ["check_known_hosts", "check_private_key"]

import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_ssh_private_key,
    load_ssh_public_key,
)

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
#: Host key types: what sshd offers (security-key types are user keys only).
_KEY_TYPES = frozenset(
    {
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    }
)


def _refuse(field: str, message: str) -> InputError:
    return InputError(message, location=Location(path=field))


def check_private_key(text: str, *, field: str = "ssh_private_key") -> None:
    """``InputError`` unless ``text`` is one private key without a passphrase, armoured
    (``-----BEGIN OPENSSH PRIVATE KEY-----`` or a PEM RSA, EC, DSA or PKCS#8 key) with
    nothing but white space around it, that the loader reads as such a key."""
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
    label = armour.group(1)
    data = (normal + "\n").encode("ascii", "replace")
    load = load_ssh_private_key if label == "OPENSSH PRIVATE KEY" else load_pem_private_key
    try:
        load(data, password=None)
    except TypeError:  # the loader's way of saying it needs a password
        raise _refuse(
            field,
            f"{field} is protected by a passphrase: give the deploy key without one (helmforge "
            "keeps it encrypted at rest itself; ssh-keygen -p -N '' removes a passphrase)",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise _refuse(
            field,
            f"{field}: the {label.lower()} does not read as a key (truncated, its body not the "
            "key its armour announces, or of a type other than Ed25519, ECDSA, RSA or DSA)",
        ) from None


def check_known_hosts(text: str, *, field: str = "ssh_known_hosts") -> None:
    """``InputError`` naming the line unless every line of ``text`` (but blank lines and
    ``#`` comments) is ``[@marker] HOSTS KEYTYPE BASE64KEY [comment]`` with a host key type
    whose key reads as a key of that type, and at least one such line is there."""
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
        try:
            load_ssh_public_key(f"{key_type} {key}".encode("ascii", "replace"))
        except (ValueError, UnsupportedAlgorithm):
            raise _refuse(
                field, f"{field} line {number}: the key does not read as a {key_type} key"
            ) from None
        entries += 1
    if not entries:
        raise _refuse(field, f"{field} holds no HOSTS KEYTYPE KEY line")
