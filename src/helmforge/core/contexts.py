"""Generation contexts: who and where a chart is for, and fleets of them.

A context is ``product``, ``customer``, ``environment``, ``instance`` (each a DNS-1123 label)
and ``version`` (the application version). Its chart name is
``{product}-{customer}-{environment}-{instance}``, which Helm limits to 53 characters.
"""

from __future__ import annotations

__all__ = [
    "CONTEXT_KEYS",
    "LABEL_KEYS",
    "MAX_CHART_NAME",
    "Context",
    "contexts_from_document",
    "is_dns_label",
    "parse_context",
]

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helmforge.core.errors import InputError, Location

LABEL_KEYS = ("product", "customer", "environment", "instance")
CONTEXT_KEYS = (*LABEL_KEYS, "version")
MAX_CHART_NAME = 53
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")


def is_dns_label(text: str) -> bool:
    """True for a DNS-1123 label: lower-case alphanumerics and '-', at most 63 characters."""
    return len(text) <= 63 and _DNS_LABEL.match(text) is not None


@dataclass(frozen=True, slots=True)
class Context:
    """A validated generation context; build it with ``parse_context``."""

    product: str
    customer: str
    environment: str
    instance: str
    version: str

    @property
    def chart_name(self) -> str:
        return f"{self.product}-{self.customer}-{self.environment}-{self.instance}"

    def as_dict(self) -> dict[str, str]:
        """The context keys and values, plus ``name`` (the chart name)."""
        return {
            "product": self.product,
            "customer": self.customer,
            "environment": self.environment,
            "instance": self.instance,
            "version": self.version,
            "name": self.chart_name,
        }


def parse_context(raw: Mapping[str, Any], *, location: Location | None = None) -> Context:
    """Validate a mapping of the five context keys into a ``Context``.

    Numbers are accepted where YAML would have read them (``instance: 01`` is written quoted by
    careful users, but ``version: 3.4`` is common) and turned into their text. Raises
    ``InputError`` listing every bad key, and naming the computed chart name when it is too long.
    """
    problems: list[str] = []
    values: dict[str, str] = {}
    unknown = sorted(set(raw) - set(CONTEXT_KEYS))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(CONTEXT_KEYS)}")
    for key in CONTEXT_KEYS:
        value = raw.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append(f"{key} is required (a string)")
            continue
        text = str(value)
        if not text:
            problems.append(f"{key} is required")
            continue
        if key == "version":
            if not _VERSION.match(text):
                problems.append(
                    f"version {text!r} must start with a letter or digit and hold only "
                    "letters, digits, '.', '_', '+' and '-'"
                )
        elif not is_dns_label(text):
            problems.append(
                f"{key} {text!r} is not a DNS-1123 label "
                "(lower-case letters, digits and '-', starting and ending alphanumeric, "
                "at most 63 characters)"
            )
        values[key] = text
    if not problems:
        context = Context(**values)
        if len(context.chart_name) > MAX_CHART_NAME:
            problems.append(
                f"chart name {context.chart_name!r} has {len(context.chart_name)} characters; "
                f"Helm allows at most {MAX_CHART_NAME}: shorten product, customer, environment "
                "or instance"
            )
        else:
            return context
    raise InputError("invalid context: " + "; ".join(problems), location=location)


def contexts_from_document(document: Any, *, source: str = "<contexts>") -> list[Context]:
    """Expand a CONTEXTS document (``matrix`` and/or ``contexts``) into contexts, in order.

    The matrix comes first, its combinations in the order of its keys and their values; then
    the listed contexts. Duplicate chart names are an error, since they would overwrite each
    other.
    """
    if not isinstance(document, Mapping):
        raise InputError(
            "a contexts file is a mapping with 'matrix' and/or 'contexts'",
            location=Location(source),
        )
    unknown = sorted(set(document) - {"matrix", "contexts"})
    if unknown:
        raise InputError(
            f"unknown key(s) {', '.join(unknown)}; valid: matrix, contexts",
            location=Location(source),
        )
    result: list[Context] = []
    matrix = document.get("matrix")
    if matrix is not None:
        result.extend(_expand_matrix(matrix, source))
    listed = document.get("contexts")
    if listed is not None:
        if not isinstance(listed, list):
            raise InputError("contexts must be a list", location=Location(source, path="contexts"))
        for index, item in enumerate(listed):
            where = Location(source, path=f"contexts[{index}]")
            if not isinstance(item, Mapping):
                raise InputError("each context is a mapping of the five keys", location=where)
            result.append(parse_context(item, location=where))
    if not result:
        raise InputError("no contexts: give a matrix or a list", location=Location(source))
    seen: set[str] = set()
    for context in result:
        if context.chart_name in seen:
            raise InputError(
                f"chart {context.chart_name} appears twice; each context needs its own "
                "product/customer/environment/instance",
                location=Location(source),
            )
        seen.add(context.chart_name)
    return result


def _expand_matrix(matrix: Any, source: str) -> list[Context]:
    where = Location(source, path="matrix")
    if not isinstance(matrix, Mapping):
        raise InputError("matrix is a mapping of context keys to lists", location=where)
    axes: list[list[Any]] = []
    for key in CONTEXT_KEYS:
        values = matrix.get(key)
        if values is None:
            raise InputError(f"matrix.{key} is missing", location=where)
        axes.append(values if isinstance(values, list) else [values])
    unknown = sorted(set(matrix) - set(CONTEXT_KEYS))
    if unknown:
        raise InputError(
            f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(CONTEXT_KEYS)}",
            location=where,
        )
    return [
        parse_context(dict(zip(CONTEXT_KEYS, combination, strict=True)), location=where)
        for combination in itertools.product(*axes)
    ]
