"""JSON schemas compiled into Python predicates: a fast "is this object valid?" for imports.

A catalog import checks every object against its schema; ``jsonschema`` spends about a
millisecond and a half on a Deployment, which is most of an import's time. The Kubernetes
schemas (and converted CRD schemas) use a small subset of JSON Schema, so each definition is
compiled once into nested closures that answer only valid / not valid. Anything not valid is
then checked again by ``SchemaSet.validate`` (jsonschema), which names every problem, so
messages never depend on this module. A schema using a keyword outside the subset compiles
to ``None``: the caller falls back to jsonschema for it.

Semantics follow JSON Schema 2020-12 as jsonschema applies it: ``integer`` accepts 1.0,
booleans are never numbers, ``format`` is not asserted, ``oneOf`` needs exactly one match.

``core/json_schemas.py`` is the other fast validator, on purpose: it validates chart values
against the draft-07 schemas helmforge writes, with messages per problem and Helm's formats
asserted, which a predicate that only says valid / not valid cannot give.
"""

from __future__ import annotations

__all__ = ["CompiledSchemas"]

import re
from collections.abc import Callable, Mapping
from typing import Any

type Check = Callable[[Any], bool]

_REF_PREFIX = "#/$defs/"
_ANNOTATIONS = frozenset(
    {
        "description",
        "format",
        "default",
        "title",
        "example",
        "examples",
        "$schema",
        "$comment",
        "readOnly",
        "writeOnly",
        "deprecated",
        "discriminator",
        "nullable",
    }
)


class _UnsupportedError(Exception):
    """A keyword outside the compiled subset: use jsonschema for this definition."""


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPE_CHECKS: Mapping[str, Check] = {
    "string": lambda value: isinstance(value, str),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "integer": _is_integer,
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
}


def _same(value: Any, other: Any) -> bool:
    if isinstance(value, bool) or isinstance(other, bool):
        return isinstance(value, bool) and isinstance(other, bool) and value == other
    return bool(value == other)


class CompiledSchemas:
    """Predicates for the definitions of one schema set, compiled on first use."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions = definitions
        self._compiled: dict[str, Check | None] = {}

    def is_valid(self, name: str, instance: Any) -> bool | None:
        """Whether ``instance`` is valid against definition ``name``; None if not compilable."""
        check = self.check_for(name)
        if check is None:
            return None
        try:
            return check(instance)
        except _UnsupportedError:
            return None  # a referenced definition outside the subset

    def check_for(self, name: str) -> Check | None:
        """The predicate of definition ``name`` (references compile lazily, so cycles end)."""
        if name not in self._compiled:
            try:
                self._compiled[name] = self._compile(self.definitions[name])
            except (_UnsupportedError, KeyError, re.error):
                self._compiled[name] = None
        return self._compiled[name]

    def _reference(self, ref: Any) -> Check:
        if not isinstance(ref, str) or not ref.startswith(_REF_PREFIX):
            raise _UnsupportedError(ref)
        name = ref[len(_REF_PREFIX) :]
        if name not in self.definitions:
            raise _UnsupportedError(ref)
        cells: dict[str, Check] = {}

        def check(instance: Any) -> bool:
            found = cells.get("check")
            if found is None:
                compiled = self.check_for(name)
                if compiled is None:
                    raise _UnsupportedError(ref)
                cells["check"] = found = compiled
            return found(instance)

        return check

    def _compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda _instance: True
        if schema is False:
            return lambda _instance: False
        if not isinstance(schema, Mapping):
            raise _UnsupportedError(schema)
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ANNOTATIONS or key.startswith("x-"):
                continue
            builder = _BUILDERS.get(key)
            if builder is None:
                raise _UnsupportedError(key)
            checks.append(builder(self, value, schema))
        return _conjunction(checks)

    def _properties(self, value: Any, _schema: Mapping[str, Any]) -> Check:
        if not isinstance(value, Mapping):
            raise _UnsupportedError("properties")
        compiled = {name: self._compile(sub) for name, sub in value.items()}

        def check(instance: Any) -> bool:
            if not isinstance(instance, dict):
                return True
            for name, item in instance.items():
                sub = compiled.get(name)
                if sub is not None and not sub(item):
                    return False
            return True

        return check

    def _additional(self, value: Any, schema: Mapping[str, Any]) -> Check:
        if "patternProperties" in schema:
            raise _UnsupportedError("patternProperties")
        known = frozenset(schema.get("properties") or ())
        if value is False:
            return lambda instance: not isinstance(instance, dict) or known.issuperset(instance)
        sub = self._compile(value)

        def check(instance: Any) -> bool:
            if not isinstance(instance, dict):
                return True
            return all(sub(item) for name, item in instance.items() if name not in known)

        return check

    def _items(self, value: Any, _schema: Mapping[str, Any]) -> Check:
        if not isinstance(value, Mapping) and not isinstance(value, bool):
            raise _UnsupportedError("items as a list")
        sub = self._compile(value)
        return lambda instance: not isinstance(instance, list) or all(sub(i) for i in instance)

    def _one_of(self, value: Any, _schema: Mapping[str, Any]) -> Check:
        subs = [self._compile(option) for option in value]
        return lambda instance: sum(1 for sub in subs if sub(instance)) == 1

    def _any_of(self, value: Any, _schema: Mapping[str, Any]) -> Check:
        subs = [self._compile(option) for option in value]
        return lambda instance: any(sub(instance) for sub in subs)

    def _all_of(self, value: Any, _schema: Mapping[str, Any]) -> Check:
        subs = [self._compile(option) for option in value]
        return lambda instance: all(sub(instance) for sub in subs)

    def _not(self, value: Any, _schema: Mapping[str, Any]) -> Check:
        sub = self._compile(value)
        return lambda instance: not sub(instance)


def _conjunction(checks: list[Check]) -> Check:
    """All of ``checks``, without a generator per call (this runs for every node)."""
    if not checks:
        return lambda _instance: True
    if len(checks) == 1:
        return checks[0]
    first, rest = checks[0], _conjunction(checks[1:])
    return lambda instance: first(instance) and rest(instance)


# JSON types whose Python check is a plain isinstance (booleans are their own type).
_EXACT_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "string": str,
    "object": dict,
    "array": list,
    "boolean": bool,
    "null": type(None),
}


def _type(_compiler: CompiledSchemas, value: Any, _schema: Mapping[str, Any]) -> Check:
    names = [value] if isinstance(value, str) else list(value)
    if any(name not in _TYPE_CHECKS for name in names):
        raise _UnsupportedError(f"type {value}")
    exact = tuple(_EXACT_TYPES[name] for name in names if name in _EXACT_TYPES)
    others = [_TYPE_CHECKS[name] for name in names if name not in _EXACT_TYPES]
    if not others:
        return lambda instance: isinstance(instance, exact)
    if len(others) == 1 and not exact:
        return others[0]
    return lambda instance: isinstance(instance, exact) or any(c(instance) for c in others)


def _required(_compiler: CompiledSchemas, value: Any, _schema: Mapping[str, Any]) -> Check:
    names = tuple(value)
    return lambda instance: not isinstance(instance, dict) or all(n in instance for n in names)


def _enum(_compiler: CompiledSchemas, value: Any, _schema: Mapping[str, Any]) -> Check:
    options = list(value)
    return lambda instance: any(_same(instance, option) for option in options)


def _const(_compiler: CompiledSchemas, value: Any, _schema: Mapping[str, Any]) -> Check:
    return lambda instance: _same(instance, value)


def _bound(kind: str) -> Callable[[CompiledSchemas, Any, Mapping[str, Any]], Check]:
    def build(_compiler: CompiledSchemas, value: Any, _schema: Mapping[str, Any]) -> Check:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _UnsupportedError(kind)
        number = _TYPE_CHECKS["number"]
        if kind == "minimum":
            return lambda instance: not number(instance) or instance >= value
        if kind == "maximum":
            return lambda instance: not number(instance) or instance <= value
        if kind == "exclusiveMinimum":
            return lambda instance: not number(instance) or instance > value
        if kind == "exclusiveMaximum":
            return lambda instance: not number(instance) or instance < value
        if kind == "minLength":
            return lambda instance: not isinstance(instance, str) or len(instance) >= value
        if kind == "maxLength":
            return lambda instance: not isinstance(instance, str) or len(instance) <= value
        if kind == "minItems":
            return lambda instance: not isinstance(instance, list) or len(instance) >= value
        if kind == "maxItems":
            return lambda instance: not isinstance(instance, list) or len(instance) <= value
        if kind == "minProperties":
            return lambda instance: not isinstance(instance, dict) or len(instance) >= value
        return lambda instance: not isinstance(instance, dict) or len(instance) <= value

    return build


def _pattern(_compiler: CompiledSchemas, value: Any, _schema: Mapping[str, Any]) -> Check:
    compiled = re.compile(value)
    return lambda instance: not isinstance(instance, str) or compiled.search(instance) is not None


_BUILDERS: Mapping[str, Callable[[CompiledSchemas, Any, Mapping[str, Any]], Check]] = {
    "$ref": lambda compiler, value, _schema: compiler._reference(value),
    "type": _type,
    "properties": CompiledSchemas._properties,
    "additionalProperties": CompiledSchemas._additional,
    "items": CompiledSchemas._items,
    "oneOf": CompiledSchemas._one_of,
    "anyOf": CompiledSchemas._any_of,
    "allOf": CompiledSchemas._all_of,
    "not": CompiledSchemas._not,
    "required": _required,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    **{
        kind: _bound(kind)
        for kind in (
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
        )
    },
}
