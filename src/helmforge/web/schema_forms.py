"""Forms built from a chart's values.schema.json, and submissions read back into values.

``build_fields`` turns the schema (types, enums, required, descriptions, nested objects and
lists) and the current values into a tree of ``FormField``; the page template draws it.
``read_submission`` reads the posted fields back into typed values, explains each input it
cannot read, then validates the whole result against the schema and files every schema error
under the field it concerns, so the page can show it inline.

Field names are ``v`` followed by the value path: ``v.image.tag``, ``v.ports.0.name``.
"""

from __future__ import annotations

__all__ = ["FormField", "build_fields", "field_name", "read_submission"]

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from helmforge.core.errors import InputError
from helmforge.core.numbers import parse_finite_float, parse_integer
from helmforge.core.yaml_codec import dump_yaml, load_single

type ValuePath = tuple[str | int, ...]

_PREFIX = "v"
_EXTRA_LIST_SLOTS = 1
# Helm's reserved key for values shared with subcharts: in the schema, never a parameter.
_NOT_PARAMETERS = frozenset({"global"})


def field_name(path: ValuePath) -> str:
    """The form field name of a value path."""
    return ".".join([_PREFIX, *(str(part) for part in path)])


def dotted(path: ValuePath) -> str:
    """A value path as people write it: ``ports[0].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(slots=True)
class FormField:
    """One input (or a group of inputs) of the values form.

    ``kind`` is one of: text, integer, number, boolean, enum, yaml (free-form object or list),
    group (object with properties), list (items drawn as children).
    """

    path: ValuePath
    kind: str
    label: str
    name: str
    value: str = ""
    required: bool = False
    description: str = ""
    options: tuple[str, ...] = ()
    input_format: str = ""
    children: list[FormField] = field(default_factory=list)
    error: str = ""

    @property
    def dom_id(self) -> str:
        return "f-" + self.name.replace(".", "-")


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "string"
    if kind is None:
        if "properties" in schema:
            return "object"
        if "enum" in schema:
            return "enum"
        return "any"
    return str(kind)


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _label(path: ValuePath) -> str:
    if not path:
        return "values"
    last = path[-1]
    if isinstance(last, int):
        return f"{path[-2] if len(path) > 1 else 'item'} item {last + 1}"
    return last


def build_fields(
    schema: Mapping[str, Any], values: Mapping[str, Any], *, errors: Mapping[str, str] | None = None
) -> list[FormField]:
    """The form fields for every property of ``schema``, filled with ``values``.

    ``errors`` maps field names to the message to show beside them.
    """
    found = dict(errors or {})
    required = set(schema.get("required", []))
    return [
        _build(sub, values.get(key), (key,), required=key in required, errors=found)
        for key, sub in schema.get("properties", {}).items()
        if key not in _NOT_PARAMETERS
    ]


def _build(
    schema: Mapping[str, Any],
    value: Any,
    path: ValuePath,
    *,
    required: bool,
    errors: dict[str, str],
) -> FormField:
    name = field_name(path)
    common: dict[str, Any] = {
        "path": path,
        "label": _label(path),
        "name": name,
        "required": required,
        "description": str(schema.get("description", "")),
        "error": errors.get(name, ""),
    }
    kind = _type_of(schema)
    if "enum" in schema:
        options = tuple(_scalar_text(option) for option in schema["enum"])
        return FormField(kind="enum", value=_scalar_text(value), options=options, **common)
    if kind == "object" and schema.get("properties"):
        inner = value if isinstance(value, Mapping) else {}
        needed = set(schema.get("required", []))
        children = [
            _build(sub, inner.get(key), (*path, key), required=key in needed, errors=errors)
            for key, sub in schema["properties"].items()
        ]
        return FormField(kind="group", children=children, **common)
    if kind == "array" and _is_simple_items(schema.get("items")):
        items = list(value) if isinstance(value, list) else []
        item_schema = schema.get("items", {})
        children = [
            _build(item_schema, item, (*path, index), required=False, errors=errors)
            for index, item in enumerate([*items, *([None] * _EXTRA_LIST_SLOTS)])
        ]
        return FormField(kind="list", children=children, **common)
    if kind in ("object", "array", "any"):
        if isinstance(value, (dict, list)):
            text = dump_yaml(value).rstrip("\n")
        else:
            text = _scalar_text(value)
        return FormField(kind="yaml", value=text, **common)
    if kind == "boolean":
        return FormField(
            kind="boolean", value=_scalar_text(value), options=("true", "false"), **common
        )
    if kind in ("integer", "number"):
        return FormField(kind=kind, value=_scalar_text(value), **common)
    return FormField(
        kind="text", value=_scalar_text(value), input_format=str(schema.get("format", "")), **common
    )


def _is_simple_items(items: Any) -> bool:
    if not isinstance(items, Mapping):
        return False
    return "enum" in items or _type_of(items) in ("string", "integer", "number", "boolean")


def _read_scalar(kind: str, text: str, schema: Mapping[str, Any]) -> Any:
    """The typed value of one input; raises ValueError with a message for the user."""
    if "enum" in schema:
        for option in schema["enum"]:
            if _scalar_text(option) == text:
                return option
        allowed = ", ".join(_scalar_text(option) for option in schema["enum"])
        raise ValueError(f"{text!r} is not one of: {allowed}")
    if kind == "boolean":
        if text in ("true", "false"):
            return text == "true"
        raise ValueError(f"{text!r} is not true or false")
    # The same number rules as JSON and YAML input: bounded digits, finite values only.
    if kind == "integer":
        if not text.lstrip("+-").isdigit():
            raise ValueError(f"{text!r} is not a whole number")
        try:
            return parse_integer(text)
        except InputError as error:
            raise ValueError(error.message) from None
    if kind == "number":
        try:
            number = parse_finite_float(text)
        except InputError as error:
            raise ValueError(error.message) from None
        return int(number) if number.is_integer() and "." not in text else number
    return text


def read_submission(
    schema: Mapping[str, Any], form: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read posted fields into values; return ``(values, errors by field name)``.

    An empty input means "no value" (the key is left out). The values are then checked against
    the whole schema; each schema error is filed under the deepest field that exists in the form.
    """
    errors: dict[str, str] = {}
    values = _read_object(schema, form, (), errors)
    if not errors:
        _validate(schema, values, errors)
    return values, errors


def _read_object(
    schema: Mapping[str, Any], form: Mapping[str, str], path: ValuePath, errors: dict[str, str]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, sub in schema.get("properties", {}).items():
        value = _read_value(sub, form, (*path, key), errors)
        if value is not None:
            result[key] = value
    return result


def _read_value(
    schema: Mapping[str, Any], form: Mapping[str, str], path: ValuePath, errors: dict[str, str]
) -> Any:
    name = field_name(path)
    kind = _type_of(schema)
    if "enum" not in schema and kind == "object" and schema.get("properties"):
        inner = _read_object(schema, form, path, errors)
        return inner or None
    if "enum" not in schema and kind == "array" and _is_simple_items(schema.get("items")):
        items: list[Any] = []
        index = 0
        while field_name((*path, index)) in form:
            item = _read_value(schema["items"], form, (*path, index), errors)
            if item is not None:
                items.append(item)
            index += 1
        return items or None
    text = form.get(name)
    if text is None or not text.strip():
        return None
    if "enum" not in schema and kind in ("object", "array", "any"):
        try:
            return load_single(text, source=dotted(path)).data
        except InputError as error:
            errors[name] = f"not valid YAML: {error}"
            return None
    try:
        return _read_scalar(kind, text.strip() if kind != "string" else text, schema)
    except ValueError as error:
        errors[name] = str(error)
        return None


def _validate(schema: Mapping[str, Any], values: Mapping[str, Any], errors: dict[str, str]) -> None:
    from jsonschema import Draft7Validator  # only when a form is submitted (3 MB per process)

    from helmforge.core.schemas.patterns import with_linear_patterns

    validator = with_linear_patterns(Draft7Validator)(dict(schema))
    for problem in sorted(validator.iter_errors(dict(values)), key=lambda e: list(e.path)):
        path: ValuePath = tuple(problem.absolute_path)
        if problem.validator == "required" and isinstance(problem.instance, Mapping):
            properties = problem.schema.get("properties", {})
            for key in problem.validator_value:
                if key not in problem.instance:
                    _file_missing(properties.get(key, {}), (*path, key), errors)
            continue
        message = problem.message
        if len(message) > 300:
            message = message[:300] + "…"
        errors.setdefault(field_name(path) if path else "v", message)


def _file_missing(schema: Any, path: ValuePath, errors: dict[str, str]) -> None:
    """File "required" under the inputs of a missing value (its required leaves, for a group)."""
    inner = schema.get("required", []) if isinstance(schema, Mapping) else []
    properties = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    if inner and properties:
        for key in inner:
            _file_missing(properties.get(key, {}), (*path, key), errors)
        return
    errors.setdefault(field_name(path), "a value is required")


def to_json(values: Any) -> str:
    """Values as compact, sorted JSON (how the form carries them between steps)."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"))
