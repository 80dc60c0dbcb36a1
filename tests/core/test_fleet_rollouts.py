"""Rollout plans (``core.fleet.rollouts``): waves in order, unique names, filters checked."""

from __future__ import annotations

import pytest

from helmforge.core.errors import InputError
from helmforge.core.fleet.rollouts import Wave, WaveGate, parse_plan


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


def test_a_wave_moves_one_instance_at_a_time_unless_its_plan_says_how_many() -> None:
    waves, _ = parse_plan(
        [{"name": "dev", "max_parallel": 8}, {"name": "rest", "max_parallel": None}], "failure"
    )
    assert [wave.max_parallel for wave in waves] == [8, 1]


@pytest.mark.parametrize("bad", [0, 21, -1, 2.5, "3", True, [2]])
def test_a_bad_max_parallel_names_its_wave_and_what_is_valid(bad: object) -> None:
    waves = [{"name": "dev"}, {"name": "sit", "max_parallel": bad}]
    with pytest.raises(InputError, match=r"waves\[1\]\.max_parallel .* integer from 1 to 20") as e:
        parse_plan(waves, "failure")
    assert e.value.location is not None
    assert e.value.location.path == "waves[1].max_parallel"


def test_a_wave_gate_starts_up_to_max_parallel_and_nothing_after_a_failure() -> None:
    gate = WaveGate(max_parallel=2, stop_on="failure")
    gate.started()
    gate.started()
    assert not gate.may_start()
    gate.ended("a", "upgraded")
    assert gate.may_start()
    gate.started()
    gate.ended("b", "unhealthy")  # not a stopper under stop_on: failure
    assert gate.may_start()
    gate.started()
    gate.ended("c", "failed")
    gate.ended("d", "failed")  # in flight: it ends, and the first failure keeps its name
    assert (gate.may_start(), gate.stopped_by, gate.first_failure) == (False, "failed", "c")


def test_a_wave_gate_honours_pause_before_a_start_but_a_failure_in_flight_outranks_it() -> None:
    gate = WaveGate(max_parallel=3, stop_on="unhealthy")
    gate.started()
    gate.asked(None)
    assert gate.may_start()
    gate.asked("pause")
    assert (gate.may_start(), gate.stopped_by) == (False, "pause")
    gate.ended("a", "unhealthy")
    assert (gate.stopped_by, gate.first_failure) == ("failed", "a")
    gate.asked("abort")
    assert gate.stopped_by == "failed"


def test_a_broken_wave_starts_nothing_and_keeps_a_failure_it_saw() -> None:
    gate = WaveGate(max_parallel=2, stop_on="failure")
    gate.started()
    gate.started()
    gate.ended("a", "failed")
    gate.broke()
    gate.ended("b", None)
    assert (gate.stopped_by, gate.first_failure, gate.in_flight) == ("failed", "a", 0)
    other = WaveGate(max_parallel=1, stop_on="failure")
    other.asked("abort")
    other.broke()
    assert other.stopped_by == "broken"
