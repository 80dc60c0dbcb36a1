"""Rollout plans (``core.fleet.rollouts``): waves in order, unique names, filters checked."""

from __future__ import annotations

import pytest

from helmforge.core.errors import InputError
from helmforge.core.fleet.rollouts import Wave, parse_plan


def test_a_plan_keeps_its_waves_in_order() -> None:
    waves, stop_on = parse_plan(
        [{"name": "dev", "filter": {"environment": "dev"}}, {"name": "rest"}], "unhealthy"
    )
    assert waves == (Wave("dev", {"environment": "dev"}), Wave("rest", {}))
    assert stop_on == "unhealthy"


@pytest.mark.parametrize(
    ("waves", "stop_on", "message"),
    [
        ([{"name": "a"}], "never", "stop_on 'never' is not one of failure, unhealthy"),
        ([], "failure", "waves must be a list"),
        ("dev", "failure", "waves must be a list"),
        ([{"name": ""}], "failure", r"waves\[0\].name is required"),
        ([{"name": "a"}, {"name": "a"}], "failure", r"waves\[1\].name 'a' names an earlier"),
        ([{"name": "a", "filter": {"team": "x"}}], "failure", r"waves\[0\].filter.team"),
    ],
)
def test_a_bad_plan_names_where(waves: object, stop_on: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_plan(waves, stop_on)
