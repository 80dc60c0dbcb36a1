"""Where a promotion goes and what it copies (pure): the environment after the source's in the
configured order, and the override at a value path.

- ``target_environment("dev", None, ("dev", "sit", "uat", "prod"))`` -> ``"sit"``
- ``override_at({"image": {"tag": "1"}}, ("image", "tag"))`` -> ``"1"`` (``MISSING`` if none)
"""

from __future__ import annotations

__all__ = ["MISSING", "override_at", "target_environment"]

from collections.abc import Sequence
from typing import Any

from helmforge.core.errors import InputError, Location
from helmforge.core.instances.value_paths import ValuePath

#: What ``override_at`` answers for a path the overrides do not reach.
MISSING: Any = object()


def target_environment(source: str, to: str | None, environments: Sequence[str]) -> str:
    """The environment a promotion from ``source`` goes to: ``to``, or the one after
    ``source`` in ``environments`` (the configured order). Promotions go forward only; an
    environment outside the order has no place to go. ``InputError`` naming the order."""
    order = " -> ".join(environments)
    if source not in environments:
        raise InputError(
            f"environment {source!r} is not one of HELMFORGE_ENVIRONMENTS ({order}): "
            "promotion goes along that order",
            location=Location(path="environment"),
        )
    position = environments.index(source)
    if to is None:
        if position + 1 >= len(environments):
            raise InputError(
                f"{source} is the last environment ({order}): there is nothing to promote to",
                location=Location(path="to"),
            )
        return environments[position + 1]
    if to not in environments or environments.index(to) <= position:
        raise InputError(
            f"to {to!r} must be an environment after {source} in {order}",
            location=Location(path="to"),
        )
    return to


def override_at(overrides: Any, path: ValuePath) -> Any:
    """The value at ``path`` in ``overrides`` (mapping keys and list indexes), or
    ``MISSING`` when the overrides do not set it (the chart's default applies there)."""
    node = overrides
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return MISSING
        elif not isinstance(node, dict) or step not in node:
            return MISSING
        node = node[step]
    return node
