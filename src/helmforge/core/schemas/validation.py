"""Chart values against their draft-07 values.schema.json, on jsonschema-rs.

Rendering a fleet checks every chart's values against its values.schema.json, and template
validation checks every default and layer value against its parameter's schema. The checks run
on ``jsonschema_rs.Draft7Validator`` with its linear-time regex engine (the ``regex`` crate,
RE2 semantics: no backtracking), so a template's ``pattern: "^(a+)+$"`` cannot freeze the
process; a pattern that engine cannot compile (backreferences, lookaround) is refused when the
template is validated (``schema_problems``). Formats are asserted exactly as Helm asserts them
(``check_format``; the other draft-07 formats are annotations). Messages are helmforge's own,
built from each error's kind, so they stay the same whichever engine runs.

The hand-written validator this replaced was measured side by side with it in one run
(benchmarks/validators.py; microseconds per check, on the example templates' values):
valid values 25-225 hand-written against 0.6-3.4 here (0.02-0.03x); values with three
mistakes, messages built, 30-209 against 26-117 (0.34-0.85x); jsonschema takes 72-1,130.
Building a validator costs more (4-500 us for one parameter with the template's definitions,
against 2-7), which template validation pays once per parameter and rendering once per
template (cached). Inputs reach here depth-bounded by their readers (YAML: 200 levels);
jsonschema-rs recurses natively and was seen to answer 10,000 levels.
"""

from __future__ import annotations

__all__ = [
    "KEYWORDS",
    "SchemaViolation",
    "Validator",
    "check_format",
    "linear_pattern_problem",
    "schema_problems",
]

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from helmforge.core.errors import InputError, Location

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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _linear_regex() -> Any:
    import jsonschema_rs

    return jsonschema_rs.RegexOptions()


# Every format jsonschema-rs asserts for draft-07: Helm's (``_FORMATS``) by helmforge's own
# checks, the rest left as annotations, as Helm leaves them.
_ENGINE_FORMATS = (
    "date", "date-time", "time", "email", "idn-email", "hostname", "idn-hostname", "ipv4",
    "ipv6", "iri", "iri-reference", "json-pointer", "relative-json-pointer", "regex", "uri",
    "uri-reference", "uri-template", "uuid", "duration",
)  # fmt: skip
_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    name: _FORMATS.get(name, lambda _text: True) for name in _ENGINE_FORMATS
}


def _engine(schema: Any) -> Any:
    """A jsonschema-rs draft-07 validator; ``ValueError`` (its first line) when it cannot be
    built."""
    import jsonschema_rs  # 25 ms: only processes that validate values pay for it

    try:
        return jsonschema_rs.Draft7Validator(
            schema,
            validate_formats=True,
            formats=_FORMAT_CHECKS,
            pattern_options=_linear_regex(),
        )
    except (jsonschema_rs.ValidationError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ValueError(first_line) from None


def linear_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot run on the linear-time regex engine, or None when it can.

    That engine (RE2 semantics) has no backreferences and no lookaround; both need
    backtracking, which a crafted value turns into minutes of CPU.
    """
    try:
        _engine({"pattern": pattern})
    except ValueError:
        pass
    else:
        return None
    if _BACKREFERENCE.search(pattern):
        feature = "a backreference (\\1, \\k<name>)"
    elif _LOOKAROUND.search(pattern):
        feature = "lookaround ((?=, (?!, (?<=, (?<!)"
    else:
        feature = "syntax outside ECMA-262/RE2 (such as \\Z, possessive or atomic groups)"
    return (
        f"pattern {pattern!r} uses {feature}, which linear-time matching does not support; "
        "patterns run with RE2 semantics, as Helm's validators run them"
    )


_BACKREFERENCE = re.compile(r"(?<!\\)(?:\\\\)*\\(?:[1-9]|k<)")
_LOOKAROUND = re.compile(r"\(\?<?[=!]")


class Validator:
    """Validates values against one draft-07 schema document (``definitions`` resolved).

    Raises ``InputError`` when the schema cannot be compiled; ``schema_problems`` refuses
    such schemas in templates, so this only meets hand-made ones.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        try:
            self._engine = _engine(schema)
        except ValueError as error:
            raise InputError(
                f"the values schema cannot be compiled: {error}",
                location=Location(path="values.schema.json"),
            ) from None

    def errors(self, instance: Any) -> list[SchemaViolation]:
        """Every violation, sorted by path (then message)."""
        if self.is_valid(instance):
            return []
        odd = _not_json(instance, ())
        if odd is not None:
            return [odd]
        raw = list(self._engine.iter_errors(instance))
        # Where a value has the wrong type, the other keywords' messages only repeat it.
        mistyped = {
            (tuple(error.instance_path), tuple(error.schema_path[:-1]))
            for error in raw
            if error.kind.name == "type"
        }
        found = [
            SchemaViolation(
                tuple(error.instance_path), self._message(error, instance), error.kind.name
            )
            for error in raw
            if error.kind.name == "type"
            or (tuple(error.instance_path), tuple(error.schema_path[:-1])) not in mistyped
        ]
        return sorted(found, key=lambda v: ([str(step) for step in v.path], v.message))

    def is_valid(self, instance: Any) -> bool:
        try:
            return bool(self._engine.is_valid(instance))
        except ValueError:  # a part JSON cannot hold (a set, a key that is no string)
            return False

    def _at(self, schema_path: Any) -> Any:
        node: Any = self.schema
        for step in schema_path:
            if isinstance(node, Mapping):
                node = node.get(step)
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                node = node[step]
            else:
                return None
        return node

    def _message(self, error: Any, instance: Any) -> str:
        kind, details = error.kind.name, error.kind.as_dict()
        value = _value_at(instance, error.instance_path)  # the caller's value, not a copy
        if kind == "oneOf":  # one name for both ways oneOf fails; the class tells them apart
            kind = type(error.kind).__name__[0].lower() + type(error.kind).__name__[1:]
        shown = _short(value)
        if kind == "type":
            wanted = ", ".join(repr(name) for name in details["types"])
            return f"{shown} is not of type {wanted}"
        if kind == "enum":
            return f"{shown} is not one of {details['options']!r}"
        if kind == "const":
            return f"{details['expected_value']!r} was expected, not {shown}"
        if kind == "required":
            return f"{details['property']!r} is a required property"
        if kind == "additionalProperties":
            parent = self._at(error.schema_path[:-1])
            properties = parent.get("properties") if isinstance(parent, Mapping) else None
            valid = ", ".join(sorted(name for name in properties or () if name != "global"))
            unknown = ", ".join(sorted(details["unexpected"]))
            return f"unknown key(s) {unknown}; valid: {valid or '(none)'}"
        if kind in _LIMIT_MESSAGES:
            return _LIMIT_MESSAGES[kind].format(value=shown, limit=details["limit"])
        if kind in _BOUND_WORDS:
            return f"{value!r} is {_BOUND_WORDS[kind]} {details['limit']!r}"
        if kind == "multipleOf":
            return f"{value!r} is not a multiple of {details['multiple_of']!r}"
        if kind == "pattern":
            return f"{shown} does not match {details['pattern']!r}"
        if kind == "format":
            return f"{shown} is not a {details['format']!r}"
        if kind in ("anyOf", "oneOfNotValid"):
            return f"{shown} matches none of {_kinds(self._at(error.schema_path))}"
        if kind == "oneOfMultipleValid":
            return f"{shown} matches more than one option"
        if kind == "not":
            return f"{shown} must not match 'not'"
        if kind == "falseSchema":
            return "no value is allowed here"
        if kind == "uniqueItems":
            return "repeats an earlier item"
        if kind == "contains":
            return "no item matches 'contains'"
        return str(error.message)


def _value_at(instance: Any, path: Any) -> Any:
    for step in path:
        instance = instance[step]
    return instance


def _not_json(value: Any, path: Path) -> SchemaViolation | None:
    """The first part of ``value`` JSON cannot hold (a NaN, a set, a key that is no string).

    jsonschema-rs raises for some and reads NaN as null; YAML and the JSON bodies never
    produce these, so this walk only runs once a value is already found invalid.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return SchemaViolation(path, f"{value!r} is not a finite number", "type")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return SchemaViolation(path, f"key {_short(key)} is not a string", "type")
            found = _not_json(item, (*path, key))
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _not_json(item, (*path, index))
            if found is not None:
                return found
        return None
    return SchemaViolation(path, f"{_short(value)} is not a JSON value", "type")


_LIMIT_MESSAGES = {
    "minLength": "{value} is shorter than {limit}",
    "maxLength": "{value} is longer than {limit}",
    "minItems": "needs at least {limit} items",
    "maxItems": "allows at most {limit} items",
    "minProperties": "needs at least {limit} keys",
    "maxProperties": "allows at most {limit} keys",
}
_BOUND_WORDS = {
    "minimum": "less than the minimum of",
    "maximum": "greater than the maximum of",
    "exclusiveMinimum": "at or below the exclusive minimum",
    "exclusiveMaximum": "at or above the exclusive maximum",
}


def _kinds(options: Any) -> str:
    names: list[str] = []
    for option in options if isinstance(options, list) else ():
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
        elif key == "pattern" and (why := linear_pattern_problem(value)) is not None:
            problems.append((where, why))
        elif key in ("properties", "patternProperties", "definitions"):
            if not isinstance(value, dict):
                problems.append((where, f"{key} must be a mapping of schemas"))
            else:
                for name, sub_schema in value.items():
                    if key == "patternProperties":
                        problems.extend(_pattern_key_problems(name, (*where, name)))
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


def _pattern_key_problems(pattern: str, where: Path) -> list[tuple[Path, str]]:
    if not _is_regex(pattern):
        return [(where, f"pattern {pattern!r} is not a valid regular expression")]
    why = linear_pattern_problem(pattern)
    return [] if why is None else [(where, why)]
