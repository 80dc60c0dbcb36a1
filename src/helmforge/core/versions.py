"""SemVer 2 versions: the one reading of a version string every part of helmforge uses
(template versions, application versions, chart versions, registry tags).

Parsing and precedence come from the ``semver`` package (strict SemVer 2.0.0: no ``v``, no
missing parts, no leading zeros, pre-releases below their release). Build metadata does not
count for precedence; it only breaks ties so that sorting never depends on input order.
"""

from __future__ import annotations

__all__ = ["SemVer", "is_semver", "parse_semver", "semver_key"]

from functools import total_ordering

import semver

from helmforge.core.errors import InputError, Location


@total_ordering
class SemVer:
    """A SemVer 2 version; ordering follows SemVer precedence (build metadata last resort)."""

    __slots__ = ("_version",)

    def __init__(self, version: semver.Version) -> None:
        self._version = version

    @property
    def major(self) -> int:
        return self._version.major

    @property
    def minor(self) -> int:
        return self._version.minor

    @property
    def patch(self) -> int:
        return self._version.patch

    @property
    def prerelease(self) -> tuple[str, ...]:
        pre = self._version.prerelease
        return tuple(pre.split(".")) if pre else ()

    @property
    def build(self) -> str:
        return self._version.build or ""

    def __str__(self) -> str:
        return str(self._version)

    def __repr__(self) -> str:
        return f"SemVer({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._version == other._version and self.build == other.build

    def __hash__(self) -> int:
        return hash((self._version, self.build))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        order = self._version.compare(other._version)
        # ``semver`` ignores build metadata; comparing it last keeps sorts deterministic.
        return order < 0 if order else self.build < other.build

    def next_patch(self) -> SemVer:
        """The next release above this one: a prerelease gives its release, else patch + 1."""
        if self._version.prerelease:
            return SemVer(self._version.finalize_version())
        return SemVer(self._version.bump_patch())


def is_semver(text: str) -> bool:
    """True for a SemVer 2.0 version (``1.2.3``, ``1.2.3-rc.1+build``); not ``v1``, ``1.0``."""
    return isinstance(text, str) and semver.Version.is_valid(text)


def parse_semver(text: str, *, source: str = "version") -> SemVer:
    """Read a strict SemVer 2 version; ``v1``, ``1.0`` and ``01.2.3`` raise ``InputError``."""
    if not is_semver(text):
        raise InputError(
            f"{text!r} is not a SemVer version: expected MAJOR.MINOR.PATCH such as 1.2.3, "
            "without a 'v' or leading zeros",
            location=Location(path=source),
        )
    return SemVer(semver.Version.parse(text))


def semver_key(text: str) -> tuple[int, SemVer | str]:
    """A sort key in SemVer precedence for stored version strings.

    Strings that are no SemVer version (stored before validation was strict) sort first,
    by text, instead of failing the whole listing.
    """
    return (1, parse_semver(text)) if is_semver(text) else (0, text)
