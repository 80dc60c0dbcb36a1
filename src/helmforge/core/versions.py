"""SemVer 2 versions: the one reading of a version string every part of helmforge uses
(template versions, application versions, chart versions, registry tags)."""

from __future__ import annotations

__all__ = ["SemVer", "is_semver", "parse_semver"]

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

from helmforge.core.errors import InputError, Location

_SEMVER = re.compile(
    r"(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    r"(?:-(?P<pre>(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z"
)


def is_semver(text: str) -> bool:
    """True for a SemVer 2.0 version (``1.2.3``, ``1.2.3-rc.1+build``); not ``v1``, ``1.0``."""
    return isinstance(text, str) and _SEMVER.match(text) is not None


@total_ordering
@dataclass(frozen=True, slots=True)
class SemVer:
    """A SemVer 2 version; ordering follows SemVer precedence (build metadata last resort)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        return text + (f"+{self.build}" if self.build else "")

    def _key(self) -> tuple[Any, ...]:
        pre: tuple[tuple[int, int, str], ...] = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        # A release ranks above its prereleases; build metadata only breaks ties for sorting.
        return (self.major, self.minor, self.patch, not self.prerelease, pre, self.build)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() < other._key()

    def next_patch(self) -> SemVer:
        """The next release above this one: a prerelease gives its release, else patch + 1."""
        if self.prerelease:
            return SemVer(self.major, self.minor, self.patch)
        return SemVer(self.major, self.minor, self.patch + 1)


def parse_semver(text: str, *, source: str = "version") -> SemVer:
    """Read a strict SemVer 2 version; ``v1``, ``1.0`` and ``01.2.3`` raise ``InputError``."""
    match = _SEMVER.match(text) if isinstance(text, str) else None
    if not match:
        raise InputError(
            f"{text!r} is not a SemVer version: expected MAJOR.MINOR.PATCH such as 1.2.3, "
            "without a 'v' or leading zeros",
            location=Location(path=source),
        )
    pre = match.group("pre")
    return SemVer(
        int(match.group("major")),
        int(match.group("minor")),
        int(match.group("patch")),
        tuple(pre.split(".")) if pre else (),
        match.group("build") or "",
    )
