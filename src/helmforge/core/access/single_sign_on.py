"""Single sign-on, the pure part: which groups an ID token's claims name, whether the login
gate lets them in, and the user name an SSO identity gets.

SSO user names always end in ``@sso``. A local user name may not contain ``@`` (accounts'
rule), so the two can never be the same account, and a binding for ``user:alice`` never
applies to ``alice@sso`` (RELIABILITY row 33: local users and SSO groups live in separate
namespaces; ``group:`` subjects come only from the groups claim).
"""

from __future__ import annotations

__all__ = [
    "SSO_SUFFIX",
    "groups_from_claims",
    "is_sso_user",
    "login_gate_refusal",
    "sso_user_name",
]

import hashlib
import re
from collections.abc import Mapping

SSO_SUFFIX = "@sso"
# What a group name may be to become a ``group:NAME`` subject (core.access.policy's rule).
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}\Z")
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
# users.name holds 64 characters: the stem, an optional "-" and 8 hex digits, and "@sso".
_STEM_LENGTH = 64 - len(SSO_SUFFIX) - 9


def groups_from_claims(claims: Mapping[str, object], claim: str) -> tuple[str, ...]:
    """The groups claim ``claim`` as sorted unique group names.

    A list of strings or one string is accepted; entries that cannot be a ``group:`` subject
    (empty, spaces, over 128 characters, not text) are left out rather than failing the sign-in:
    they could never match a binding anyway.
    """
    raw = claims.get(claim)
    values: list[object]
    if isinstance(raw, str):
        values = [raw]
    elif isinstance(raw, list | tuple):
        values = list(raw)
    else:
        return ()
    return tuple(sorted({v for v in values if isinstance(v, str) and _GROUP.match(v)}))


def is_sso_user(name: str) -> bool:
    """Whether user ``name`` is an SSO identity (``STEM@sso``): such a user has no password in
    helmforge, only the identity provider's."""
    return name.endswith(SSO_SUFFIX)


def login_gate_refusal(groups: tuple[str, ...], allowed: frozenset[str]) -> str | None:
    """Why the login gate refuses a user in ``groups``, or ``None`` when it lets them in
    (``allowed`` empty: anyone the provider authenticates)."""
    if not allowed or set(groups) & allowed:
        return None
    return (
        "you are not a member of any group allowed to sign in "
        f"(allowed: {', '.join(sorted(allowed))})"
    )


def sso_user_name(claims: Mapping[str, object], *, disambiguate: bool = False) -> str:
    """The helmforge user name of an SSO identity: ``STEM@sso``.

    The stem comes from ``preferred_username``, else the local part of ``email``, else
    ``sub``, lower-cased with anything outside ``[a-z0-9._-]`` replaced by ``-``.
    ``disambiguate`` appends 8 hex digits of the subject's digest, for a second identity whose
    stem another identity already holds.
    """
    subject = str(claims.get("sub", ""))
    source = ""
    for key in ("preferred_username", "email", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            source = value.split("@", 1)[0] if key == "email" else value
            break
    stem = _UNSAFE.sub("-", source.strip().lower()).strip("-._")[:_STEM_LENGTH].strip("-._")
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:8]
    if not stem:
        return f"sso-{digest}{SSO_SUFFIX}"
    return f"{stem}-{digest}{SSO_SUFFIX}" if disambiguate else f"{stem}{SSO_SUFFIX}"
