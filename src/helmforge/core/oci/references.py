"""Where charts go: ``oci://HOST[:PORT]/PATH`` references, repositories, registries, and the
``WWW-Authenticate`` challenges registries answer with (pure).

- ``parse_reference("oci://HOST[:PORT]/PATH")`` -> ``OciReference``
- ``repository_for(reference, chart_name)`` -> ``PATH/<chart name>``
- ``parse_challenge(header)`` -> the scheme and parameters of a ``WWW-Authenticate`` header
- ``Registry``: a configured registry (url, CA, plain HTTP, credentials)
"""

from __future__ import annotations

__all__ = [
    "Challenge",
    "OciReference",
    "Registry",
    "parse_challenge",
    "parse_reference",
    "redact_userinfo",
    "repository_for",
]

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from helmforge.core.errors import InputError, Location
from helmforge.core.secrets import Secret

# The distribution spec's grammar for repository path components.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_HOST = re.compile(
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?\Z"
)
CHART_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")


@dataclass(frozen=True, slots=True)
class OciReference:
    """``oci://HOST[:PORT]/PATH``: where charts go; ``path`` may be empty."""

    host: str
    port: int | None
    path: str

    @property
    def authority(self) -> str:
        """``HOST[:PORT]`` as used in URLs and in Helm's registry_auth keys."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"oci://{self.authority}/{self.path}".rstrip("/")


def redact_userinfo(text: str) -> str:
    """``text`` with any ``USER:PASSWORD@`` before the host replaced by ``***@``, to show a URL
    someone typed back to them (in a message or a form) without its password."""
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "", text
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return text
    host = authority.rpartition("@")[2]
    return f"{scheme}{separator}***@{host}{slash}{path}"


def parse_reference(text: str, *, source: str = "reference") -> OciReference:
    """Read ``oci://HOST[:PORT]/PATH``; raise ``InputError`` saying what a valid one looks like.

    Messages never repeat a password given in the URL (``oci://user:secret@host``): it is
    refused as such, and shown as ``***@``.
    """
    where = Location(source)
    shown = redact_userinfo(text)
    if not text.startswith("oci://"):
        raise InputError(
            f"{shown!r} is not an OCI reference: expected oci://HOST[:PORT]/PATH", location=where
        )
    rest = text[len("oci://") :]
    authority, _, path = rest.partition("/")
    if "@" in authority:
        raise InputError(
            f"{shown!r} holds credentials before the host (expected oci://HOST[:PORT]/PATH): "
            "give the user name and password separately (a registry's username and password, "
            "or --username and --password-stdin), never in the URL",
            location=where,
        )
    match = _HOST.match(authority)
    if not match:
        raise InputError(
            f"{authority!r} is not a registry host: expected HOST or HOST:PORT", location=where
        )
    port_text = match.group("port")
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        raise InputError(f"port {port} is out of range 1-65535", location=where)
    path = path.strip("/")
    if path:
        for component in path.split("/"):
            if not _COMPONENT.match(component):
                raise InputError(
                    f"repository path component {component!r} is invalid: use lowercase "
                    "letters and digits separated by '.', '_', '__' or '-'",
                    location=where,
                )
    return OciReference(host=match.group("host").lower(), port=port, path=path)


def repository_for(reference: OciReference, chart_name: str) -> str:
    """The repository a chart goes to: ``PATH/<chart name>`` (or the name alone)."""
    if not CHART_NAME.match(chart_name):
        raise InputError(
            f"chart name {chart_name!r} is invalid: lowercase letters, digits and '-'",
            location=Location(path="name"),
        )
    return f"{reference.path}/{chart_name}" if reference.path else chart_name


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|\Z)')


@dataclass(frozen=True, slots=True)
class Challenge:
    """A ``WWW-Authenticate`` challenge: scheme (lowercase) and its parameters."""

    scheme: str
    params: Mapping[str, str]

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenge(header: str) -> Challenge:
    """Read ``Bearer realm="...",service="...",scope="repository:a/b:pull,push"``.

    Quoted values may hold commas; unknown parameters are kept. An empty or malformed header
    gives scheme ``""`` and what parameters could be read.
    """
    header = header.strip()
    scheme, _, rest = header.partition(" ")
    if "=" in scheme:
        scheme, rest = "", header
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if not match or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[match.group(1).lower()] = value
        position = match.end()
    return Challenge(scheme=scheme.lower(), params=params)


@dataclass(frozen=True, slots=True)
class Registry:
    """A configured registry: where it is, how to trust it, who we are there.

    ``url`` is ``oci://HOST[:PORT]/PATH``; ``ca_pem`` a PEM bundle to trust instead of the
    system store; ``plain_http`` only when asked for (a loopback or lab registry).
    ``password`` is a ``Secret``: it prints as a mask everywhere.
    """

    url: str
    ca_pem: str | None = None
    plain_http: bool = False
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)

    @property
    def reference(self) -> OciReference:
        return parse_reference(self.url, source="registry url")

    @property
    def base_url(self) -> str:
        scheme = "http" if self.plain_http else "https"
        return f"{scheme}://{self.reference.authority}"

    def __post_init__(self) -> None:
        self.reference  # noqa: B018 - validates the url early
        if (self.username is None) != (self.password is None):
            raise InputError(
                "give both a username and a password, or neither",
                location=Location(path="username"),
            )
