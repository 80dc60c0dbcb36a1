"""The instance filter of fleet requests: ``{"product"?, "customer"?, "environment"?}``."""

from __future__ import annotations

__all__ = ["FILTER_KEYS", "parse_filter"]

from collections.abc import Mapping
from typing import Any

from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import InputError, Location

FILTER_KEYS = ("product", "customer", "environment")


def parse_filter(raw: Mapping[str, Any] | None, *, source: str = "filter") -> dict[str, str]:
    """The filter with its empty entries left out; ``InputError`` naming ``source.KEY`` for an
    unknown key or a value that is no DNS-1123 label."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InputError(
            f"{source} must be an object with product, customer and/or environment",
            location=Location(path=source),
        )
    chosen: dict[str, str] = {}
    for key, value in raw.items():
        if key not in FILTER_KEYS:
            raise InputError(
                f"{source}.{key} is not a filter: use {', '.join(FILTER_KEYS)}",
                location=Location(path=f"{source}.{key}"),
            )
        if value is None or value == "":
            continue
        if not isinstance(value, str) or not is_dns_label(value):
            raise InputError(
                f"{source}.{key}: {value!r} is not a {key} name (a DNS-1123 label)",
                location=Location(path=f"{source}.{key}"),
            )
        chosen[key] = value
    return chosen
