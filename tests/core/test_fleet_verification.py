"""What verification concludes about one instance (``core.fleet.verification``) and the
fleet filter (``core.fleet.filters``)."""

from __future__ import annotations

import dataclasses

import pytest

from helmforge.core.errors import InputError
from helmforge.core.fleet.filters import parse_filter
from helmforge.core.fleet.verification import Observation, drift_of, outcome_json

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
CLEAN = Observation(
    instance="shop/acme/dev/eu-1",
    chart="shop-acme-dev-eu-1",
    chart_version="3.4.0",
    tag="3.4.0",
    recorded_digest=DIGEST,
    rebuilt_digest=DIGEST,
    registry_digest=DIGEST,
    application_chart="shop-acme-dev-eu-1",
    application_version="3.4.0",
    recorded_values={"replicaCount": 2, "image": {"tag": "1"}},
    current_values={"replicaCount": 2, "image": {"tag": "1"}},
    recorded_revision="c" * 40,
)


def kinds(seen: Observation) -> list[str]:
    return [drift.kind for drift in drift_of(seen)]


def test_an_instance_as_recorded_has_no_drift() -> None:
    assert drift_of(CLEAN) == []
    assert outcome_json(CLEAN.instance, []) == {
        "instance": CLEAN.instance,
        "status": "ok",
        "drift": [],
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"registry_digest": OTHER}, ["tag_moved"]),
        ({"registry_digest": None}, ["tag_missing"]),
        ({"registry_problem": "registry 'lab' did not answer"}, ["unreadable"]),
        ({"rebuilt_digest": OTHER}, ["not_reproducible"]),
        ({"rebuilt_digest": None, "rebuild_problem": "values.x is required"}, ["not_reproducible"]),
        ({"application_version": "9.9.9"}, ["application_mismatch"]),
        ({"application_chart": "other"}, ["application_mismatch"]),
        ({"application_problem": "no chart source"}, ["unreadable"]),
        ({"current_values": {"replicaCount": 3, "image": {"tag": "1"}}}, ["values_changed"]),
        ({"values_problem": "values.yaml must hold a mapping"}, ["unreadable"]),
        (
            {"registry_digest": OTHER, "current_values": {}},
            ["tag_moved", "values_changed"],
        ),
    ],
)
def test_each_difference_is_its_own_drift(changes: dict[str, object], expected: list[str]) -> None:
    assert kinds(dataclasses.replace(CLEAN, **changes)) == expected  # type: ignore[arg-type]


def test_a_moved_tag_names_both_digests_and_changed_values_name_their_paths() -> None:
    (moved,) = drift_of(dataclasses.replace(CLEAN, registry_digest=OTHER))
    assert moved.as_json()["recorded"] == DIGEST
    assert moved.as_json()["served"] == OTHER
    edited = dataclasses.replace(
        CLEAN, current_values={"replicaCount": 2, "image": {"tag": "2"}, "extra": True}
    )
    (changed,) = drift_of(edited)
    assert changed.as_json()["paths"] == ["image.tag", "extra"]
    assert outcome_json(CLEAN.instance, [changed])["status"] == "drift"


def test_no_recorded_build_does_not_reproduce_and_unrecorded_values_are_not_compared() -> None:
    seen = dataclasses.replace(
        CLEAN, recorded_digest=None, rebuilt_digest=None, recorded_values=None
    )
    assert kinds(seen) == ["not_reproducible"]


BUILT_BY = {"helmforge": "0.1.0", "python": "3.13.1", "zlib": "1.3.1", "pyyaml": "6.0.2"}


def test_an_archive_another_generator_built_is_a_notice_naming_both_generators() -> None:
    running = {**BUILT_BY, "helmforge": "0.2.0", "zlib": "1.3.2"}
    seen = dataclasses.replace(
        CLEAN, rebuilt_digest=OTHER, recorded_generator=BUILT_BY, running_generator=running
    )
    (notice,) = drift_of(seen)
    assert notice.kind == "generator_changed"
    assert notice.message.startswith(
        "built by helmforge 0.1.0 (zlib 1.3.1), this is helmforge 0.2.0 (zlib 1.3.2): "
        "re-derivation may differ (the recorded inputs now give "
    )
    assert "no longer" not in notice.message
    assert notice.as_json()["recorded_generator"] == BUILT_BY
    assert notice.as_json()["running_generator"] == running
    assert outcome_json(CLEAN.instance, [notice])["status"] == "notice"
    moved = drift_of(dataclasses.replace(seen, registry_digest=OTHER))
    assert outcome_json(CLEAN.instance, moved)["status"] == "drift"  # a notice and a drift


def test_an_archive_the_same_generator_no_longer_gives_does_not_reproduce() -> None:
    same = dataclasses.replace(
        CLEAN, rebuilt_digest=OTHER, recorded_generator=BUILT_BY, running_generator=BUILT_BY
    )
    (drift,) = drift_of(same)
    assert drift.kind == "not_reproducible"
    assert drift.message.endswith("with the generator that built it")
    unknown = dataclasses.replace(same, recorded_generator=None)
    (drift,) = drift_of(unknown)
    assert drift.kind == "not_reproducible"
    assert "did not record what generated it" in drift.message
    assert "this is helmforge 0.1.0" in drift.message
    assert drift_of(dataclasses.replace(same, rebuilt_digest=DIGEST)) == []


def test_the_filter_keeps_known_keys_with_labels_and_names_the_bad_entry() -> None:
    assert parse_filter(None) == {}
    assert parse_filter({"product": "shop", "customer": "", "environment": None}) == {
        "product": "shop"
    }
    with pytest.raises(InputError, match=r"filter\.team is not a filter"):
        parse_filter({"team": "x"})
    with pytest.raises(InputError, match=r"filter\.environment: 'Prod!'"):
        parse_filter({"environment": "Prod!"})
