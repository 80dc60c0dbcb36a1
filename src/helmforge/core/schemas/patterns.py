"""Linear-time ``pattern`` matching for the ``jsonschema`` validators helmforge still runs.

``jsonschema`` matches ``pattern``, ``patternProperties`` (and ``additionalProperties`` beside
them) with Python's backtracking ``re``: ``^(a+)+$`` against 28 a's and ``!`` takes 28 s and
holds the GIL. Values, imports and most checks run on jsonschema-rs (``validation.py``,
``compilers.py``); the paths that still want jsonschema's error objects (full messages for an
object that broke its Kubernetes or CRD schema, the web form, ``helmforge lint``) get those
three keywords replaced here by ones matching on jsonschema-rs's linear-time regex engine
(the ``regex`` crate, RE2 semantics), so every pattern in helmforge runs on one engine and
gives the same answer everywhere. A pattern that engine cannot compile (backreferences,
lookaround) is reported as a violation instead of being run.
"""

from __future__ import annotations

__all__ = ["linear_search", "with_linear_patterns"]

from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema


@lru_cache(maxsize=4096)
def _matcher(pattern: str) -> Callable[[str], bool] | None:
    import jsonschema_rs

    try:
        validator = jsonschema_rs.Draft202012Validator(
            {"pattern": pattern}, pattern_options=jsonschema_rs.RegexOptions()
        )
    except (jsonschema_rs.ValidationError, ValueError):
        return None
    check: Callable[[str], bool] = validator.is_valid
    return check


def linear_search(pattern: str, text: str) -> bool | None:
    """Whether ``pattern`` matches somewhere in ``text`` (linear time); None if it cannot run."""
    matcher = _matcher(pattern)
    return None if matcher is None else matcher(text)


def _unsupported(pattern: str) -> str:
    return (
        f"pattern {pattern!r} cannot run in linear time (backreferences and lookaround are "
        "not supported), so it was not applied"
    )


def _pattern(
    validator: Any, pattern: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    from jsonschema import ValidationError

    if not validator.is_type(instance, "string") or not isinstance(pattern, str):
        return
    found = linear_search(pattern, instance)
    if found is None:
        yield ValidationError(_unsupported(pattern))
    elif not found:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    from jsonschema import ValidationError

    if not validator.is_type(instance, "object") or not isinstance(patterns, Mapping):
        return
    for pattern, sub_schema in patterns.items():
        if _matcher(pattern) is None:
            yield ValidationError(_unsupported(pattern))
            continue
        for key, value in instance.items():
            if linear_search(pattern, key):
                yield from validator.descend(value, sub_schema, path=key, schema_path=pattern)


def _additional_properties(
    original: Callable[..., Iterator[jsonschema.ValidationError]],
) -> Callable[..., Iterator[jsonschema.ValidationError]]:
    def check(
        validator: Any, extra: Any, instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[jsonschema.ValidationError]:
        from jsonschema import ValidationError

        patterns = schema.get("patternProperties")
        if not isinstance(patterns, Mapping) or not patterns:
            yield from original(validator, extra, instance, schema)  # no regex involved
            return
        if not validator.is_type(instance, "object"):
            return
        known = schema.get("properties") or {}
        extras = sorted(
            key
            for key in instance
            if key not in known and not any(linear_search(p, key) for p in patterns)
        )
        if validator.is_type(extra, "object"):
            for key in extras:
                yield from validator.descend(instance[key], extra, path=key)
        elif extra is False and extras:
            joined = ", ".join(repr(key) for key in extras)
            listed = ", ".join(repr(pattern) for pattern in sorted(patterns))
            yield ValidationError(f"{joined} match none of the patterns {listed}")

    return check


@lru_cache(maxsize=16)
def with_linear_patterns(base: type[jsonschema.protocols.Validator]) -> Any:
    """``base`` (a jsonschema validator class) with linear-time pattern keywords (one class
    per base, so jsonschema's per-class caches keep working)."""
    from jsonschema import validators

    extend: Any = validators.extend  # untyped in jsonschema
    return extend(
        base,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties(base.VALIDATORS["additionalProperties"]),
        },
    )
