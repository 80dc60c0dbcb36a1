"""Kubernetes label selectors (``app=web,tier!=db,env in (prod,uat),!legacy``), parsed once.

The parser accepts the equality- and set-based forms ``kubectl -l`` accepts and returns
requirements that adapters turn into queries and ``matches`` evaluates in memory.
"""

from __future__ import annotations

__all__ = ["Requirement", "matches", "parse_label_selector"]

import re
from collections.abc import Mapping
from dataclasses import dataclass

from helmforge.core.errors import InputError

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*\Z")
_EQUALITY = re.compile(rf"\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*\Z")
_EXISTS = re.compile(rf"\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*\Z")
_VALUE_ONLY = re.compile(rf"{_VALUE}\Z")


@dataclass(frozen=True, slots=True)
class Requirement:
    """``key`` with ``operator`` one of ``in``, ``notin``, ``exists``, ``!exists``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


def _split_top_level(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_label_selector(selector: str) -> tuple[Requirement, ...]:
    """The requirements of ``selector``; raises ``InputError`` naming the part that is wrong."""
    requirements: list[Requirement] = []
    for part in _split_top_level(selector):
        if not part.strip():
            continue
        if found := _SET.match(part):
            values = tuple(value.strip() for value in found["values"].split(","))
            if not values or not all(_VALUE_ONLY.match(value) for value in values):
                raise InputError(f"label selector {part.strip()!r}: invalid value list")
            requirements.append(Requirement(found["key"], found["op"], values))
        elif found := _EQUALITY.match(part):
            operator = "notin" if found["op"] == "!=" else "in"
            requirements.append(Requirement(found["key"], operator, (found["value"],)))
        elif found := _EXISTS.match(part):
            requirements.append(Requirement(found["key"], "!exists" if found["neg"] else "exists"))
        else:
            raise InputError(
                f"label selector {part.strip()!r} is not valid; use key=value, key!=value, "
                "key in (a,b), key notin (a,b), key or !key"
            )
    return tuple(requirements)


def matches(requirements: tuple[Requirement, ...], labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy every requirement."""
    for requirement in requirements:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        if requirement.operator == "exists" and not present:
            return False
        if requirement.operator == "!exists" and present:
            return False
        if requirement.operator == "in" and value not in requirement.values:
            return False
        if requirement.operator == "notin" and present and value in requirement.values:
            return False
    return True
