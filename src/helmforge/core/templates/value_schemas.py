"""values.schema.json: derived from the Kubernetes fields each parameter is bound to.

A parameter that is the whole value of a field (``replicas: ${values.replicaCount}``) takes
that field's schema (type, format, enum, integer range; referenced definitions are copied
under ``definitions`` with internal ``#/definitions/`` references only). A parameter used
inside a longer string is a string. The template's declared ``type`` and ``schema`` are
merged over the derived schema. Groups of parameters reject unknown keys, so a typo such as
``replicaCont`` fails; required parameters are ``required``.
"""

from __future__ import annotations

__all__ = [
    "DRAFT_07",
    "ParameterType",
    "TypeConflict",
    "parameter_schemas",
    "parameter_type",
    "stringified_fields",
    "values_schema",
]

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from helmforge.core.schemas.kubernetes import definition_name

if TYPE_CHECKING:
    from helmforge.core.schemas.kubernetes import SchemaSet
    from helmforge.core.templates.models import Parameter, Template

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_STANDARD_FORMATS = frozenset(
    {
        "date-time", "date", "time", "email", "idn-email", "hostname", "idn-hostname",
        "ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference", "uri-template",
        "json-pointer", "relative-json-pointer", "regex",
    }
)  # fmt: skip
_INTEGER_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
# Kubernetes' "byte" format (Secret data, caBundle): standard base64, which the API server
# decodes; plain text there would only fail at apply time.
_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_KEEP = frozenset(
    {
        "type", "description", "enum", "format", "properties", "additionalProperties",
        "items", "required", "oneOf", "anyOf", "allOf", "minimum", "maximum", "pattern",
        "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "$ref", "default",
    }
)  # fmt: skip

type ParameterType = Literal["string", "integer", "number", "boolean", "object", "array", "any"]
_TYPES: dict[str, ParameterType] = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


@dataclass(frozen=True, slots=True)
class TypeConflict:
    """A parameter bound to fields of different types (reported by ``validate_template``)."""

    parameter: str
    first: str
    second: str
    resource_id: str
    path: tuple[str | int, ...]


@dataclass(slots=True)
class _Derived:
    schemas: dict[str, dict[str, Any]]
    definitions: dict[str, Any]
    conflicts: list[TypeConflict]
    stringified: frozenset[tuple[str, tuple[str | int, ...]]]


_SCALARS = frozenset({"integer", "number", "boolean"})


def _python_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return None


def parameter_type(schema: Mapping[str, Any]) -> ParameterType:
    """How a value of this schema is written into a manifest: its one JSON type, or ``any``."""
    kind = schema.get("type")
    names = [kind] if isinstance(kind, str) else [n for n in kind or () if n != "null"]
    if len(names) == 1:
        return _TYPES.get(names[0], "any")
    return "any"


class _Converter:
    """Copies Kubernetes schema fragments into draft-07, collecting referenced definitions."""

    def __init__(self, schemas: SchemaSet, definitions: dict[str, Any]) -> None:
        self.schemas = schemas
        self.definitions = definitions

    def convert(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.convert(item) for item in node]
        if not isinstance(node, Mapping):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in _KEEP:
                continue
            if key == "$ref":
                name = definition_name(value) if isinstance(value, str) else None
                if name is None or name not in self.schemas.definitions:
                    continue  # never emit an external reference
                self.require(name)
                out["$ref"] = "#/definitions/" + name
            elif key == "type" and isinstance(value, list):
                # Kubernetes allows null for "unset"; a value file means a value, so null is
                # refused (Helm would drop the key and fall back to the default anyway).
                names = [name for name in value if name != "null"]
                out[key] = names[0] if len(names) == 1 else names
            elif key == "properties" and isinstance(value, Mapping):
                out[key] = {prop: self.convert(sub) for prop, sub in value.items()}
            elif key == "format":
                if value in _INTEGER_RANGES:
                    low, high = _INTEGER_RANGES[value]
                    out.setdefault("minimum", low)
                    out.setdefault("maximum", high)
                elif value in _STANDARD_FORMATS:
                    out[key] = value
                elif value == "byte":
                    out.setdefault("pattern", _BASE64)
            else:
                out[key] = self.convert(value)
        return out

    def require(self, name: str) -> None:
        if name in self.definitions:
            return
        self.definitions[name] = {}  # placeholder first: self-references terminate
        self.definitions[name] = self.convert(self.schemas.definitions[name])


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, list):
        names = [name for name in kind if name != "null"]
        schema["type"] = names[0] if len(names) == 1 else names
    options = schema.get("oneOf")
    if isinstance(options, list):
        schema["oneOf"] = [
            _strip_null(dict(option)) for option in options if option != {"type": "null"}
        ]
    return schema


def _base_schema(
    parameter: Parameter, field_schema: dict[str, Any] | None, *, weak: bool
) -> dict[str, Any]:
    schema = dict(field_schema or {})
    guessed = _python_type(parameter.default) if parameter.has_default else None
    if parameter.type is not None:
        schema["type"] = parameter.type
    elif weak and guessed in _SCALARS:
        schema = {"type": guessed}  # only bound in strings: the default's own scalar type
    elif "type" not in schema and "oneOf" not in schema and "$ref" not in schema:
        schema["type"] = guessed or "string"
    return schema


def _derive(template: Template, schemas: SchemaSet) -> _Derived:
    cached = template.cache.get(("derived", schemas))
    if isinstance(cached, _Derived):
        return cached
    definitions: dict[str, Any] = {}
    converter = _Converter(schemas, definitions)
    # dotted -> (schema, resource id, path, weak): a weak schema comes from a string field,
    # which any scalar fits once written quoted, so it never decides against another field.
    found: dict[str, tuple[dict[str, Any], str, tuple[str | int, ...], bool]] = {}
    string_fields: list[tuple[str, str, tuple[str | int, ...]]] = []
    conflicts: list[TypeConflict] = []
    resources = {resource.id: resource for resource in template.resources}
    # Whole-field bindings first: a parameter also used inside a longer string keeps the
    # field's type (a port in "http://host:${values.port}" is still an integer).
    ordered = sorted(template.bindings, key=lambda binding: not binding.whole)
    for binding in ordered:
        resource = resources[binding.resource_id]
        targets: list[tuple[str, tuple[str | int, ...]]] = []
        if binding.parameter in template.parameters:
            targets.append((binding.parameter, binding.path))
        else:  # a group used whole: its parameters sit below the field
            prefix = binding.parameter + "."
            for dotted, parameter in template.parameters.items():
                if dotted.startswith(prefix):
                    rest = parameter.path[len(binding.parameter.split(".")) :]
                    targets.append((dotted, (*binding.path, *rest)))
        for dotted, path in targets:
            field_schema: dict[str, Any] | None
            if binding.whole or dotted != binding.parameter:
                raw = schemas.schema_at(resource.api_version, resource.kind, path)
                field_schema = None if raw is None else _strip_null(converter.convert(raw))
            else:
                field_schema = {"type": "string"}
            if field_schema is None:
                continue
            weak = dotted == binding.parameter and (
                not binding.whole or field_schema.get("type") == "string"
            )
            if weak and binding.whole:
                string_fields.append((dotted, resource.id, path))
            previous = found.get(dotted)
            if previous is None or (previous[3] and not weak):
                found[dotted] = (field_schema, resource.id, path, weak)
                continue
            if weak:
                continue
            old_type, new_type = parameter_type(previous[0]), parameter_type(field_schema)
            if old_type != new_type and "any" not in (old_type, new_type):
                conflicts.append(TypeConflict(dotted, old_type, new_type, resource.id, path))
    result: dict[str, dict[str, Any]] = {}
    for dotted, parameter in template.parameters.items():
        bound = found.get(dotted)
        schema = _base_schema(
            parameter, None if bound is None else bound[0], weak=bool(bound and bound[3])
        )
        schema.update(converter.convert(dict(parameter.schema)))
        for key, value in parameter.schema.items():
            if key == "format":
                schema["format"] = value  # declared formats are kept even if non-standard
        if parameter.description:
            schema["description"] = parameter.description
        result[dotted] = schema
    stringified = frozenset(
        (resource_id, path)
        for dotted, resource_id, path in string_fields
        if parameter_type(result[dotted]) in _SCALARS or parameter_type(result[dotted]) == "any"
    )
    derived = _Derived(result, definitions, conflicts, stringified)
    template.cache[("derived", schemas)] = derived
    return derived


def parameter_schemas(template: Template, *, schemas: SchemaSet) -> dict[str, dict[str, Any]]:
    """The draft-07 schema of each parameter, keyed by dotted path (shared, do not mutate)."""
    return _derive(template, schemas).schemas


def stringified_fields(
    template: Template, *, schemas: SchemaSet
) -> frozenset[tuple[str, tuple[str | int, ...]]]:
    """(resource id, field path) of string fields holding a whole non-string scalar parameter.

    Such a field gets the value written as a quoted string (``PORT: ${values.port}`` in a
    ConfigMap's data), while the parameter keeps its own type in values.schema.json.
    """
    return _derive(template, schemas).stringified


def type_conflicts(template: Template, *, schemas: SchemaSet) -> list[TypeConflict]:
    """Parameters bound to Kubernetes fields of different types."""
    return list(_derive(template, schemas).conflicts)


def values_schema(template: Template, *, schemas: SchemaSet) -> dict[str, Any]:
    """The whole values.schema.json document for the template (cached; do not mutate)."""
    cached = template.cache.get(("values_schema", schemas))
    if isinstance(cached, dict):
        return cached
    derived = _derive(template, schemas)
    root: dict[str, Any] = {
        "$schema": DRAFT_07,
        "title": f"Values of {template.name} {template.version}",
        "type": "object",
        "properties": {"global": {"type": "object"}},
        "additionalProperties": False,
    }
    for dotted, parameter in template.parameters.items():
        node = root
        for key in parameter.path[:-1]:
            child = node["properties"].get(key)
            if child is None:
                child = {"type": "object", "properties": {}, "additionalProperties": False}
                node["properties"][key] = child
            if parameter.required and key not in node.setdefault("required", []):
                node["required"].append(key)
            node = child
        node["properties"][parameter.path[-1]] = derived.schemas[dotted]
        if parameter.required:
            node.setdefault("required", []).append(parameter.path[-1])
    if derived.definitions:
        root["definitions"] = derived.definitions
    template.cache[("values_schema", schemas)] = root
    return root
