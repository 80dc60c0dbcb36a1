"""``spec.chartVersionPolicy``: app (default) or auto; anything else names the line and the
valid choices."""

from __future__ import annotations

import pytest

from helmforge.core.errors import InputError
from helmforge.core.templates.parsing import parse_template
from tests.core.test_templates import MINIMAL


def with_policy(value: str) -> str:
    return MINIMAL.replace(
        '  kubernetesVersion: "1.31"\n',
        f'  kubernetesVersion: "1.31"\n  chartVersionPolicy: {value}\n',
    )


def test_default_is_app() -> None:
    assert parse_template(MINIMAL, source="t.yaml").chart_version_policy == "app"


@pytest.mark.parametrize("policy", ["app", "auto"])
def test_known_policies(policy: str) -> None:
    assert parse_template(with_policy(policy), source="t.yaml").chart_version_policy == policy


@pytest.mark.parametrize("value", ["latest", "[auto]", "Auto", "explicit"])
def test_unknown_policy_names_line_path_and_choices(value: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_template(with_policy(value), source="t.yaml")
    (problem,) = caught.value.problems
    assert problem.location is not None
    assert problem.location.line == 8
    assert problem.location.path == "spec.chartVersionPolicy"
    assert "valid: app, auto" in problem.message
