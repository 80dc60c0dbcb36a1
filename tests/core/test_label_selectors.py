from __future__ import annotations

import pytest

from helmforge.core.errors import InputError
from helmforge.core.manifests.selectors import Requirement, matches, parse_label_selector


def test_every_selector_form_parses() -> None:
    assert parse_label_selector(
        "app=web, tier!=db,env in (prod, uat),team notin (x),gpu,!legacy"
    ) == (
        Requirement("app", "in", ("web",)),
        Requirement("tier", "notin", ("db",)),
        Requirement("env", "in", ("prod", "uat")),
        Requirement("team", "notin", ("x",)),
        Requirement("gpu", "exists"),
        Requirement("legacy", "!exists"),
    )
    assert parse_label_selector("app.kubernetes.io/name==web") == (
        Requirement("app.kubernetes.io/name", "in", ("web",)),
    )


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app": "web", "env": "prod", "gpu": "1"}, True),
        ({"app": "web", "env": "dev", "gpu": "1"}, False),
        ({"app": "web", "env": "prod"}, False),
        ({"app": "web", "env": "prod", "gpu": "1", "legacy": "y"}, False),
        ({"app": "web", "env": "prod", "gpu": "1", "tier": "db"}, False),
    ],
)
def test_matching(labels: dict[str, str], expected: bool) -> None:
    requirements = parse_label_selector("app=web,tier!=db,env in (prod,uat),gpu,!legacy")
    assert matches(requirements, labels) is expected


@pytest.mark.parametrize("selector", ["a=b=c", "in (x)", "a in x", "a in (b c)", "=x", "a b"])
def test_invalid_selectors_name_the_part(selector: str) -> None:
    with pytest.raises(InputError, match="label selector"):
        parse_label_selector(selector)
