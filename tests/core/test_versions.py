"""The one SemVer reading (core/versions.py, on the ``semver`` package): strict SemVer 2,
precedence per the spec, deterministic sorting when only build metadata differs."""

from __future__ import annotations

import random

import pytest

from helmforge.core.errors import InputError
from helmforge.core.versions import is_semver, parse_semver, semver_key

# SemVer 2.0.0, section 11: each one has lower precedence than the next.
SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
]


@pytest.mark.parametrize("text", ["v1", "1.0", "01.2.3", "1.2.3-01", "1.2.3\n", " 1.2.3", "1.2.3-"])
def test_loose_versions_are_refused_naming_the_field(text: str) -> None:
    assert not is_semver(text)
    with pytest.raises(InputError, match=r"is not a SemVer version: expected MAJOR\.MINOR\.PATCH"):
        parse_semver(text, source="appVersion")
    with pytest.raises(InputError) as raised:
        parse_semver(text, source="appVersion")
    assert raised.value.location is not None
    assert raised.value.location.path == "appVersion"


def test_precedence_follows_the_spec_including_prereleases() -> None:
    shuffled = SPEC_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=semver_key) == SPEC_ORDER
    assert sorted(shuffled, key=parse_semver) == SPEC_ORDER


def test_build_metadata_is_ignored_for_precedence_but_sorting_is_deterministic() -> None:
    assert not parse_semver("1.0.0+b") < parse_semver("1.0.0-rc.1")
    assert parse_semver("1.0.0-rc.1+z") < parse_semver("1.0.0+a")
    for order in (["1.0.0+b", "1.0.0+a", "1.0.0"], ["1.0.0", "1.0.0+a", "1.0.0+b"]):
        assert sorted(order, key=semver_key) == ["1.0.0", "1.0.0+a", "1.0.0+b"]
    assert parse_semver("1.0.0+a") != parse_semver("1.0.0+b")
    assert str(parse_semver("1.2.3-rc.1+build.5")) == "1.2.3-rc.1+build.5"


def test_next_patch_of_a_prerelease_is_its_release() -> None:
    assert str(parse_semver("1.2.3-rc.1").next_patch()) == "1.2.3"
    assert str(parse_semver("1.2.3+build").next_patch()) == "1.2.4"


def test_stored_strings_that_are_no_semver_sort_first_instead_of_failing() -> None:
    assert sorted(["1.0.0", "legacy"], key=semver_key) == ["legacy", "1.0.0"]
