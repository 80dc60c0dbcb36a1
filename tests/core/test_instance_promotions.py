"""Where a promotion goes (forward along HELMFORGE_ENVIRONMENTS only) and what it copies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helmforge.core.errors import InputError
from helmforge.core.instances.promotions import MISSING, override_at, target_environment

ORDER = ("dev", "sit", "uat", "prod")


@pytest.mark.parametrize(
    ("source", "to", "expected"),
    [("dev", None, "sit"), ("sit", None, "uat"), ("uat", None, "prod"), ("dev", "prod", "prod"),
     ("sit", "uat", "uat")],
)  # fmt: skip
def test_the_next_environment_or_a_later_one_named(
    source: str, to: str | None, expected: str
) -> None:
    assert target_environment(source, to, ORDER) == expected


@pytest.mark.parametrize(
    ("source", "to", "message"),
    [
        ("prod", None, "prod is the last environment (dev -> sit -> uat -> prod)"),
        ("uat", "sit", "to 'sit' must be an environment after uat in dev -> sit -> uat -> prod"),
        ("uat", "uat", "to 'uat' must be an environment after uat"),
        ("dev", "prod-eu", "to 'prod-eu' must be an environment after dev"),
        ("dev", "PROD", "to 'PROD' must be an environment after dev"),
        ("qa", None, "environment 'qa' is not one of HELMFORGE_ENVIRONMENTS"),
    ],
)
def test_backwards_sideways_and_unknown_environments_are_refused(
    source: str, to: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        target_environment(source, to, ORDER)


@given(
    order=st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=2, unique=True),
    data=st.data(),
)
def test_a_promotion_always_moves_strictly_forward(order: list[str], data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(order))
    to = data.draw(st.none() | st.sampled_from(order))
    position = order.index(source)
    try:
        chosen = target_environment(source, to, order)
    except InputError:
        assert (to is None and position == len(order) - 1) or (
            to is not None and order.index(to) <= position
        )
    else:
        assert order.index(chosen) > position
        assert chosen == (to or order[position + 1])


def test_the_override_at_a_path_or_missing() -> None:
    overrides = {"image": {"tag": "1.10"}, "env": [{"name": "A", "value": "on"}], "off": None}
    assert override_at(overrides, ("image", "tag")) == "1.10"
    assert override_at(overrides, ("image",)) == {"tag": "1.10"}
    assert override_at(overrides, ("env", 0, "value")) == "on"
    assert override_at(overrides, ("off",)) is None  # an override of null is one
    for path in [("image", "pullPolicy"), ("env", 1), ("env", "0"), ("image", 0), ("nope",)]:
        assert override_at(overrides, path) is MISSING, path
