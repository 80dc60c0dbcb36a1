"""A small, fast JSON Schema (draft-07) validator for the schemas helmforge writes.

Rendering a fleet checks every chart's values against its values.schema.json; the
``jsonschema`` package does that correctly but slowly, and costs a tenth of a second to
import in every CLI process. This validator covers the keywords helmforge's derived schemas
and the templates' declared constraints use (listed in ``KEYWORDS``), with internal
``#/definitions/`` references only, and asserts the formats Helm asserts. The tests check it
against ``jsonschema`` on random values.

``core/schema_compilers.py`` is the other fast validator, on purpose: it compiles the Kubernetes
schemas of a catalog import into valid/not-valid predicates only (2020-12, no messages, no
formats), where this one gives messages and asserts formats for values schemas.
"""

from __future__ import annotations

__all__ = ["KEYWORDS", "SchemaViolation", "Validator", "check_format", "schema_problems"]

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

KEYWORDS = frozenset(
    {
        "$schema", "$id", "$comment", "title", "description", "default", "examples",
        "definitions", "$ref", "type", "enum", "const", "properties", "additionalProperties",
        "required", "patternProperties", "minProperties", "maxProperties", "propertyNames",
        "items", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "pattern", "format", "oneOf", "anyOf", "allOf", "not",
        "if", "then", "else", "readOnly", "writeOnly", "contentMediaType", "contentEncoding",
    }
)  # fmt: skip
_MAX_DEPTH = 400
_HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*\Z")
_DATE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})\Z"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\Z")

type Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One way a value breaks the schema: where (path inside the value), why, which keyword."""

    path: Path
    message: str
    keyword: str


def _is_hostname(text: str) -> bool:
    name = text.removesuffix(".")
    return 0 < len(name) <= 253 and all(_HOSTNAME_LABEL.match(part) for part in name.split("."))


def _is_ip(text: str, version: int) -> bool:
    import ipaddress  # rare: only templates that declare an IP format pay for the import

    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _is_date_time(text: str) -> bool:
    match = _DATE_TIME.match(text)
    return (
        match is not None
        and _is_date(match.group(1))
        and int(match.group(2)) < 24
        and int(match.group(3)) < 60
        and int(match.group(4)) < 61
    )


def _is_regex(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


_FORMATS: dict[str, Callable[[str], bool]] = {
    "hostname": _is_hostname,
    "idn-hostname": _is_hostname,
    "ipv4": lambda text: _is_ip(text, 4),
    "ipv6": lambda text: _is_ip(text, 6),
    "email": lambda text: _EMAIL.match(text) is not None,
    "idn-email": lambda text: _EMAIL.match(text) is not None,
    "date": _is_date,
    "date-time": _is_date_time,
    "uri": lambda text: _URI.match(text) is not None,
    "regex": _is_regex,
}


def check_format(name: str, value: Any) -> bool:
    """True unless ``value`` is a string that breaks a format Helm asserts."""
    check = _FORMATS.get(name)
    return check is None or not isinstance(value, str) or check(value)


_TYPE_NAMES_BY_CLASS: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dict: "object",
    list: "array",
}


def _type_name(value: Any) -> str:
    name = _TYPE_NAMES_BY_CLASS.get(type(value))
    if name is not None:
        return name
    for cls, cls_name in _TYPE_NAMES_BY_CLASS.items():  # subclasses (rare)
        if cls is not type(None) and isinstance(value, cls):
            return cls_name
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    kind = _type_name(value)
    if kind == name:
        return True
    if name == "number":
        return kind == "integer"
    if name == "integer":
        return kind == "number" and math.isfinite(value) and float(value).is_integer()
    return False


def _equal(left: Any, right: Any) -> bool:
    """JSON equality: 1 == 1.0, but True != 1 and "1" != 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            _equal(a, b) for a, b in zip(left, right, strict=True)
        )
    return type(left) is type(right) and bool(left == right)


_BOUNDS = (
    ("minimum", "less than the minimum of"),
    ("maximum", "greater than the maximum of"),
    ("exclusiveMinimum", "at or below the exclusive minimum"),
    ("exclusiveMaximum", "at or above the exclusive maximum"),
)


def _breaks(keyword: str, value: float, bound: float) -> bool:
    if keyword == "minimum":
        return value < bound
    if keyword == "maximum":
        return value > bound
    if keyword == "exclusiveMinimum":
        return value <= bound
    return value >= bound


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Validator:
    """Validates values against one draft-07 schema document (``definitions`` resolved)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        definitions = schema.get("definitions")
        self.definitions: Mapping[str, Any] = definitions if isinstance(definitions, dict) else {}

    def errors(self, instance: Any) -> list[SchemaViolation]:
        """Every violation, sorted by path (then message)."""
        found: list[SchemaViolation] = []
        self._check(self.schema, instance, (), found, 0)
        return sorted(found, key=lambda v: ([str(step) for step in v.path], v.message))

    def is_valid(self, instance: Any) -> bool:
        found: list[SchemaViolation] = []
        self._check(self.schema, instance, (), found, 0)
        return not found

    def _resolve(self, ref: str, path: Path, out: list[SchemaViolation]) -> Any:
        if ref == "#":
            return self.schema
        name = ref.removeprefix("#/definitions/")
        target = self.definitions.get(name) if name != ref else None
        if target is None:
            out.append(SchemaViolation(path, f"unresolvable reference {ref!r}", "$ref"))
        return target

    def _check(
        self, schema: Any, value: Any, path: Path, out: list[SchemaViolation], depth: int
    ) -> None:
        if schema is True or schema == {}:
            return
        if schema is False:
            out.append(SchemaViolation(path, "no value is allowed here", "false"))
            return
        if not isinstance(schema, dict):
            return
        if depth > _MAX_DEPTH:
            out.append(SchemaViolation(path, "schema nesting too deep", "$ref"))
            return
        ref = schema.get("$ref")
        if isinstance(ref, str):  # draft-07: keywords beside $ref are ignored
            target = self._resolve(ref, path, out)
            if target is not None:
                self._check(target, value, path, out, depth + 1)
            return
        before = len(out)
        self._check_type(schema, value, path, out)
        if len(out) > before:
            return  # the other keywords' messages would only repeat the type error
        self._check_values(schema, value, path, out)
        if isinstance(value, dict):
            self._check_object(schema, value, path, out, depth)
        elif isinstance(value, list):
            self._check_array(schema, value, path, out, depth)
        elif isinstance(value, str):
            self._check_string(schema, value, path, out)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_number(schema, value, path, out)
        self._check_combinators(schema, value, path, out, depth)

    def _check_type(
        self, schema: Mapping[str, Any], value: Any, path: Path, out: list[SchemaViolation]
    ) -> None:
        kind = schema.get("type")
        if kind is None:
            return
        names = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is_type(value, name) for name in names):
            wanted = ", ".join(repr(name) for name in names)
            out.append(SchemaViolation(path, f"{_short(value)} is not of type {wanted}", "type"))

    def _check_values(
        self, schema: Mapping[str, Any], value: Any, path: Path, out: list[SchemaViolation]
    ) -> None:
        options = schema.get("enum")
        if isinstance(options, list) and not any(_equal(value, option) for option in options):
            out.append(SchemaViolation(path, f"{_short(value)} is not one of {options!r}", "enum"))
        if "const" in schema and not _equal(value, schema["const"]):
            out.append(
                SchemaViolation(
                    path, f"{schema['const']!r} was expected, not {_short(value)}", "const"
                )
            )

    def _check_object(
        self,
        schema: Mapping[str, Any],
        value: Mapping[str, Any],
        path: Path,
        out: list[SchemaViolation],
        depth: int,
    ) -> None:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        for name in schema.get("required") or ():
            if name not in value:
                out.append(SchemaViolation(path, f"{name!r} is a required property", "required"))
        patterns = schema.get("patternProperties")
        patterns = patterns if isinstance(patterns, dict) else {}
        extra = schema.get("additionalProperties", True)
        unknown: list[str] = []
        for key, item in value.items():
            matched = False
            if key in properties:
                matched = True
                self._check(properties[key], item, (*path, key), out, depth + 1)
            for pattern, sub_schema in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    self._check(sub_schema, item, (*path, key), out, depth + 1)
            if not matched:
                if extra is False:
                    unknown.append(key)
                elif isinstance(extra, dict):
                    self._check(extra, item, (*path, key), out, depth + 1)
        if unknown:
            valid = ", ".join(sorted(name for name in properties if name != "global"))
            out.append(
                SchemaViolation(
                    path,
                    f"unknown key(s) {', '.join(sorted(unknown))}; valid: {valid or '(none)'}",
                    "additionalProperties",
                )
            )
        names = schema.get("propertyNames")
        if names is not None:
            for key in value:
                self._check(names, key, (*path, key), out, depth + 1)
        low, high = schema.get("minProperties"), schema.get("maxProperties")
        if isinstance(low, int) and len(value) < low:
            out.append(SchemaViolation(path, f"needs at least {low} keys", "minProperties"))
        if isinstance(high, int) and len(value) > high:
            out.append(SchemaViolation(path, f"allows at most {high} keys", "maxProperties"))

    def _check_array(
        self,
        schema: Mapping[str, Any],
        value: list[Any],
        path: Path,
        out: list[SchemaViolation],
        depth: int,
    ) -> None:
        items = schema.get("items")
        if isinstance(items, list):
            for index, (item, sub_schema) in enumerate(zip(value, items, strict=False)):
                self._check(sub_schema, item, (*path, index), out, depth + 1)
            additional = schema.get("additionalItems", True)
            for index in range(len(items), len(value)):
                self._check(additional, value[index], (*path, index), out, depth + 1)
        elif items is not None:
            for index, item in enumerate(value):
                self._check(items, item, (*path, index), out, depth + 1)
        low, high = schema.get("minItems"), schema.get("maxItems")
        if isinstance(low, int) and len(value) < low:
            out.append(SchemaViolation(path, f"needs at least {low} items", "minItems"))
        if isinstance(high, int) and len(value) > high:
            out.append(SchemaViolation(path, f"allows at most {high} items", "maxItems"))
        if schema.get("uniqueItems") is True:
            for index, item in enumerate(value):
                if any(_equal(item, other) for other in value[:index]):
                    out.append(
                        SchemaViolation((*path, index), "repeats an earlier item", "uniqueItems")
                    )
                    break
        contains = schema.get("contains")
        if contains is not None and not any(self._passes(contains, item, depth) for item in value):
            out.append(SchemaViolation(path, "no item matches 'contains'", "contains"))

    def _check_string(
        self, schema: Mapping[str, Any], value: str, path: Path, out: list[SchemaViolation]
    ) -> None:
        low, high = schema.get("minLength"), schema.get("maxLength")
        if isinstance(low, int) and len(value) < low:
            out.append(SchemaViolation(path, f"{_short(value)} is shorter than {low}", "minLength"))
        if isinstance(high, int) and len(value) > high:
            out.append(SchemaViolation(path, f"{_short(value)} is longer than {high}", "maxLength"))
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and re.search(pattern, value) is None:
            out.append(
                SchemaViolation(path, f"{_short(value)} does not match {pattern!r}", "pattern")
            )
        name = schema.get("format")
        if isinstance(name, str) and not check_format(name, value):
            out.append(SchemaViolation(path, f"{_short(value)} is not a {name!r}", "format"))

    def _check_number(
        self, schema: Mapping[str, Any], value: float, path: Path, out: list[SchemaViolation]
    ) -> None:
        for keyword, words in _BOUNDS:
            bound = schema.get(keyword)
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                continue
            if _breaks(keyword, value, bound):
                out.append(SchemaViolation(path, f"{value!r} is {words} {bound!r}", keyword))
        step = schema.get("multipleOf")
        if isinstance(step, (int, float)) and step > 0:
            quotient = value / step
            if math.isfinite(quotient) and not float(quotient).is_integer():
                out.append(
                    SchemaViolation(path, f"{value!r} is not a multiple of {step!r}", "multipleOf")
                )

    def _passes(self, schema: Any, value: Any, depth: int) -> bool:
        found: list[SchemaViolation] = []
        self._check(schema, value, (), found, depth + 1)
        return not found

    def _check_combinators(
        self,
        schema: Mapping[str, Any],
        value: Any,
        path: Path,
        out: list[SchemaViolation],
        depth: int,
    ) -> None:
        for sub_schema in schema.get("allOf") or ():
            self._check(sub_schema, value, path, out, depth + 1)
        options = schema.get("anyOf")
        if options and not any(self._passes(option, value, depth) for option in options):
            out.append(
                SchemaViolation(path, f"{_short(value)} matches none of {_kinds(options)}", "anyOf")
            )
        options = schema.get("oneOf")
        if options:
            passing = sum(self._passes(option, value, depth) for option in options)
            if passing == 0:
                out.append(
                    SchemaViolation(
                        path, f"{_short(value)} matches none of {_kinds(options)}", "oneOf"
                    )
                )
            elif passing > 1:
                out.append(
                    SchemaViolation(path, f"{_short(value)} matches more than one option", "oneOf")
                )
        negated = schema.get("not")
        if negated is not None and self._passes(negated, value, depth):
            out.append(SchemaViolation(path, f"{_short(value)} must not match 'not'", "not"))
        condition = schema.get("if")
        if condition is not None:
            branch = (
                schema.get("then") if self._passes(condition, value, depth) else schema.get("else")
            )
            if branch is not None:
                self._check(branch, value, path, out, depth + 1)


def _kinds(options: Any) -> str:
    names: list[str] = []
    for option in options:
        kind = option.get("type") if isinstance(option, dict) else None
        for name in [kind] if isinstance(kind, str) else kind or ():
            if isinstance(name, str) and name != "null" and name not in names:
                names.append(name)
    return ", ".join(names) if names else "the allowed schemas"


_NUMBER_KEYWORDS = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
)  # fmt: skip
_COUNT_KEYWORDS = (
    "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
)  # fmt: skip
_SCHEMA_KEYWORDS = ("additionalProperties", "additionalItems", "propertyNames", "contains", "not")
_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf")
_TYPE_NAMES = frozenset({"null", "boolean", "integer", "number", "string", "object", "array"})


def schema_problems(schema: Any, path: Path = ()) -> list[tuple[Path, str]]:
    """What is wrong with a declared schema fragment: unknown keywords, malformed values.

    Stricter than the draft-07 meta-schema on purpose: an unknown keyword (``maximun``) is
    almost always a typo that would silently constrain nothing.
    """
    if isinstance(schema, bool):
        return []
    if not isinstance(schema, dict):
        return [(path, "a schema is a mapping (or true/false)")]
    problems: list[tuple[Path, str]] = []
    for key, value in schema.items():
        where = (*path, key)
        if key not in KEYWORDS:
            problems.append((where, f"unknown JSON schema keyword {key!r}"))
        elif key == "type":
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not names or not set(names) <= _TYPE_NAMES:
                problems.append((where, f"type must be one of {', '.join(sorted(_TYPE_NAMES))}"))
        elif key in _NUMBER_KEYWORDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append((where, f"{key} must be a number"))
        elif key in _COUNT_KEYWORDS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append((where, f"{key} must be a non-negative integer"))
        elif key in ("enum", "required") and not isinstance(value, list):
            problems.append((where, f"{key} must be a list"))
        elif key in ("pattern", "format", "title", "description") and not isinstance(value, str):
            problems.append((where, f"{key} must be a string"))
        elif key == "pattern" and not _is_regex(value):
            problems.append((where, f"pattern {value!r} is not a valid regular expression"))
        elif key in ("properties", "patternProperties", "definitions"):
            if not isinstance(value, dict):
                problems.append((where, f"{key} must be a mapping of schemas"))
            else:
                for name, sub_schema in value.items():
                    problems.extend(schema_problems(sub_schema, (*where, name)))
        elif key in _SCHEMA_KEYWORDS or key in ("if", "then", "else"):
            problems.extend(schema_problems(value, where))
        elif key == "items":
            options = value if isinstance(value, list) else [value]
            for index, sub_schema in enumerate(options):
                problems.extend(
                    schema_problems(
                        sub_schema, (*where, index) if isinstance(value, list) else where
                    )
                )
        elif key in _SCHEMA_LIST_KEYWORDS:
            if not isinstance(value, list) or not value:
                problems.append((where, f"{key} must be a non-empty list of schemas"))
            else:
                for index, sub_schema in enumerate(value):
                    problems.extend(schema_problems(sub_schema, (*where, index)))
    return problems
