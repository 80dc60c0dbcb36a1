"""Chart versions in a registry: OCI tags for SemVer versions and the version policies
(``app``, ``auto``, ``explicit``) that choose the next one (pure).

- ``tag_for_version("1.2.3+build")`` -> ``1.2.3_build`` (OCI tags refuse ``+``)
- ``resolve_version(policy, ...)`` -> the version the app/auto/explicit policy gives
"""

from __future__ import annotations

__all__ = ["VersionPolicy", "resolve_version", "tag_for_version", "version_for_tag"]

import re
from collections.abc import Iterable
from enum import StrEnum

from helmforge.core.errors import InputError, Location
from helmforge.core.versions import is_semver, parse_semver

# The distribution spec's grammar for tags.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")


def tag_for_version(version: str) -> str:
    """The OCI tag of a chart version: ``+`` becomes ``_`` as Helm does."""
    parse_semver(version)
    tag = version.replace("+", "_")
    if not _TAG.match(tag):
        raise InputError(f"version {version!r} does not make a valid OCI tag")
    return tag


def version_for_tag(tag: str) -> str | None:
    """The chart version a tag stands for, or ``None`` when the tag is no SemVer version."""
    version = tag.replace("_", "+")
    return version if is_semver(version) else None


class VersionPolicy(StrEnum):
    """How a chart version is chosen when publishing."""

    APP = "app"
    AUTO = "auto"
    EXPLICIT = "explicit"


def resolve_version(
    policy: VersionPolicy | str,
    *,
    explicit: str | None = None,
    app_version: str | None = None,
    published: Iterable[str] = (),
    highest_matches: bool = False,
    initial: str = "0.1.0",
) -> str:
    """The chart version ``policy`` gives.

    ``app``: the app version (must be SemVer). ``explicit``: ``explicit``. ``auto``: ``initial``
    when nothing is published, the highest published version when its content equals ours
    (``highest_matches``), else the next patch above it. Tags that are no SemVer are ignored.
    Raises ``InputError`` for an unknown policy or a missing/invalid version.
    """
    try:
        chosen = VersionPolicy(policy)
    except ValueError:
        raise InputError(
            f"version policy {policy!r} is unknown: use app, auto or explicit",
            location=Location(path="versionPolicy"),
        ) from None
    if chosen is VersionPolicy.APP:
        if not app_version:
            raise InputError("policy app needs an appVersion", location=Location(path="appVersion"))
        return str(parse_semver(app_version, source="appVersion"))
    if chosen is VersionPolicy.EXPLICIT:
        if not explicit:
            raise InputError("policy explicit needs a version", location=Location(path="version"))
        return str(parse_semver(explicit))
    versions = [parse_semver(v) for v in published if is_semver(v)]
    if not versions:
        return str(parse_semver(initial, source="initial"))
    highest = max(versions)
    return str(highest if highest_matches else highest.next_patch())
