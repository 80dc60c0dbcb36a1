"""values.yaml holds only what differs from the chart's defaults (DESIGN §6):
``without_defaults`` as Helm merges overrides over defaults."""

from __future__ import annotations

from typing import Any

import pytest

from helmforge.core.instances.values_diff import without_defaults

DEFAULTS: dict[str, Any] = {
    "replicaCount": 1,
    "debug": False,
    "ratio": 1.0,
    "image": {"tag": "1.0", "pullPolicy": "IfNotPresent"},
    "env": [{"name": "A", "value": "1"}],
    "annotations": {},
}


@pytest.mark.parametrize(
    ("overrides", "kept"),
    [
        ({"replicaCount": 1}, {}),
        ({"replicaCount": 2}, {"replicaCount": 2}),
        ({"replicaCount": True}, {"replicaCount": True}),  # True == 1, not the same value
        ({"debug": 0}, {"debug": 0}),
        ({"ratio": 1}, {"ratio": 1}),  # an int is no default of a float
        ({"image": {"tag": "1.0", "pullPolicy": "Always"}}, {"image": {"pullPolicy": "Always"}}),
        ({"image": {"tag": "1.0"}}, {}),
        ({"image": {}}, {}),
        ({"annotations": {}}, {}),
        ({"env": [{"name": "A", "value": "1"}]}, {}),  # a list is one value: Helm replaces it
        ({"env": [{"name": "A", "value": "2"}]}, {"env": [{"name": "A", "value": "2"}]}),
        ({"image": None}, {"image": None}),  # null removes the default: it differs
        ({"extra": {"a": 1}}, {"extra": {"a": 1}}),
        ({"replicaCount": {"a": 1}}, {"replicaCount": {"a": 1}}),
        ({"image": "nginx"}, {"image": "nginx"}),
    ],
)
def test_only_values_that_change_the_merge_are_kept(
    overrides: dict[str, Any], kept: dict[str, Any]
) -> None:
    assert without_defaults(overrides, DEFAULTS) == kept
    assert without_defaults(kept, DEFAULTS) == kept
