"""The suite's own rules: tests that need ../shared/data say once that they did not run (and
fail under CI); property tests carry no deadline."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
_SUITE = """
def test_reads_one(shared_data):
    assert shared_data.is_dir()

def test_reads_two(shared_data):
    assert shared_data.is_dir()

def test_needs_nothing():
    pass
"""


@pytest.fixture
def suite_without_shared_data(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small suite using this suite's ``shared_data`` fixture, with the data nowhere."""
    nowhere = pytester.path / "nowhere"
    monkeypatch.setenv("TEST_SHARED_DATA", str(nowhere))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv("CI", raising=False)
    pytester.makeconftest(
        "from tests.conftest import pytest_report_teststatus, pytest_terminal_summary, shared_data"
    )
    pytester.makepyfile(test_suite=_SUITE)
    return nowhere


def test_absent_shared_data_is_said_once_at_the_end(
    pytester: pytest.Pytester, suite_without_shared_data: Path
) -> None:
    result = pytester.runpytest_subprocess("-ra", "-p", "no:cacheprovider")
    output = result.stdout.str()
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "2 tests not run: ../shared/data (public manifests, Argo CD CRDs) is not beside the "
            f"repository at {suite_without_shared_data} (TEST_SHARED_DATA may name it)",
            "*1 passed, 2 not run*",
        ]
    )
    assert output.count("not beside the repository") == 1, output
    assert "SKIPPED" not in output


def test_absent_shared_data_fails_under_ci(
    pytester: pytest.Pytester, suite_without_shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines([f"*CI is set and ../shared/data*{suite_without_shared_data}*"])
    assert "not run" not in result.stdout.str()


def test_property_tests_have_no_deadline_and_no_speed_health_check() -> None:
    # A test's own @settings(...) starts from the loaded profile.
    for chosen in (settings.default, settings(max_examples=3)):
        assert chosen.deadline is None
        assert HealthCheck.too_slow in chosen.suppress_health_check


def test_shared_data_is_reached_only_through_the_fixture() -> None:
    # One mechanism says "not run" (or fails under CI); a test finding the folder by itself
    # would fail with a FileNotFoundError on a clone made elsewhere.
    tests = Path(__file__).resolve().parent
    offenders = [
        str(path.relative_to(tests))
        for path in sorted(tests.rglob("*.py"))
        if path.name != "conftest.py"
        and path != Path(__file__).resolve()
        and any(word in path.read_text("utf-8") for word in ("SHARED_DATA", "shared/data"))
    ]
    assert offenders == []
