"""Kubernetes JSON schemas for one Kubernetes version: look up, walk and validate.

A ``SchemaSet`` holds the definitions of one Kubernetes version (the ``$defs`` of
kubernetes-validate's ``_definitions.json``, strict flavour: ``additionalProperties: false``)
and answers three questions the chart engine asks:

- which definition describes ``apiVersion`` + ``kind`` (``schema_for``),
- which schema types a field inside such an object (``schema_at``),
- what is wrong with an object (``validate``).

References are the internal ``#/$defs/NAME`` form; ``resolve`` follows them. Loading the files
is an adapter's job (``helmforge.adapters.kubernetes_schemas.load_schema_set``).
"""

from __future__ import annotations

__all__ = ["SchemaSet", "SchemaViolation", "definition_name"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema


_REF_PREFIX = "#/$defs/"

type FieldPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One way an object breaks its schema: where (a path inside the object) and why."""

    path: FieldPath
    message: str


def definition_name(ref: str) -> str | None:
    """The definition a ``$ref`` names (``#/$defs/NAME`` -> ``NAME``), or None if external."""
    return ref[len(_REF_PREFIX) :] if ref.startswith(_REF_PREFIX) else None


class SchemaSet:
    """The schemas of one Kubernetes version; hashed by identity so caches can key on it.

    ``definitions`` maps definition names (``io.k8s.api.apps.v1.Deployment``) to JSON schemas
    whose references are ``#/$defs/NAME``. Objects are found through each definition's
    ``x-kubernetes-group-version-kind``.
    """

    def __init__(self, *, kubernetes_version: str, definitions: Mapping[str, Any]) -> None:
        self.kubernetes_version = kubernetes_version
        self.definitions: Mapping[str, Any] = definitions
        self._kinds: dict[tuple[str, str], str] = {}
        for name, schema in definitions.items():
            for gvk in schema.get("x-kubernetes-group-version-kind", ()) or ():
                group, version, kind = gvk.get("group", ""), gvk.get("version"), gvk.get("kind")
                if not version or not kind:
                    continue
                api_version = f"{group}/{version}" if group else version
                # Several definitions can claim one kind (DeleteOptions, WatchEvent, ...):
                # the one whose own kind matches wins.
                if name.rsplit(".", 1)[-1] == kind or (api_version, kind) not in self._kinds:
                    self._kinds[(api_version, kind)] = name
        self._validators: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"SchemaSet(kubernetes_version={self.kubernetes_version!r})"

    def kinds(self) -> list[tuple[str, str]]:
        """Every ``(apiVersion, kind)`` this set knows, sorted."""
        return sorted(self._kinds)

    def definition_for(self, api_version: str, kind: str) -> str | None:
        """The definition name for an object type, or None for an unknown kind (a CRD)."""
        return self._kinds.get((api_version, kind))

    def schema_for(self, api_version: str, kind: str) -> dict[str, Any] | None:
        """The top-level schema of an object type, or None when the kind is unknown."""
        name = self.definition_for(api_version, kind)
        return None if name is None else dict(self.definitions[name])

    def resolve(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """Follow ``$ref`` chains; sibling keywords (``description``) of the ref are kept."""
        current = dict(schema)
        for _ in range(64):
            ref = current.get("$ref")
            if not isinstance(ref, str):
                return current
            name = definition_name(ref)
            if name is None or name not in self.definitions:
                return current
            merged = dict(self.definitions[name])
            for key, value in current.items():
                if key != "$ref":
                    merged.setdefault(key, value)
            current = merged
        return current

    def schema_at(
        self, api_version: str, kind: str, path: Sequence[str | int]
    ) -> dict[str, Any] | None:
        """The resolved schema of the field at ``path`` inside an object, or None if unknown.

        ``path`` holds mapping keys (str) and list indexes (int), e.g.
        ``("spec", "template", "spec", "containers", 0, "image")``.
        """
        name = self.definition_for(api_version, kind)
        if name is None:
            return None
        current = self.resolve({"$ref": _REF_PREFIX + name})
        for step in path:
            nxt: Any
            if isinstance(step, int):
                nxt = current.get("items")
            else:
                properties = current.get("properties") or {}
                nxt = properties.get(step)
                if nxt is None:
                    extra = current.get("additionalProperties")
                    nxt = extra if isinstance(extra, Mapping) else None
            if not isinstance(nxt, Mapping):
                return None
            current = self.resolve(nxt)
        return current

    def validate(self, manifest: Mapping[str, Any]) -> list[SchemaViolation] | None:
        """Every violation of the object's schema (sorted by path), or None for an unknown kind."""
        api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return [SchemaViolation((), "apiVersion and kind must be strings")]
        name = self.definition_for(api_version, kind)
        if name is None:
            return None
        validator = self._validators.get(name)
        if validator is None:
            import jsonschema  # only templates are checked this way; rendering never is

            from helmforge.core.schemas.patterns import with_linear_patterns

            root = {"$ref": _REF_PREFIX + name, "$defs": self.definitions}
            validator = with_linear_patterns(jsonschema.Draft202012Validator)(root)
            self._validators[name] = validator
        violations = [
            SchemaViolation(tuple(error.absolute_path), _describe(error))
            for error in validator.iter_errors(manifest)
        ]
        return sorted(violations, key=lambda v: ([str(step) for step in v.path], v.message))


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(
            (error.schema.get("properties") or {}) if isinstance(error.schema, Mapping) else ()
        )
        unknown = sorted(set(error.instance) - set(allowed))
        hint = f"; valid: {', '.join(allowed)}" if allowed else ""
        return f"unknown field(s) {', '.join(unknown)}{hint}"
    if error.validator == "oneOf" and isinstance(error.schema, Mapping):
        return f"{error.instance!r} is not valid here (expected one of: {_types_of(error.schema)})"
    return str(error.message)


def _types_of(schema: Mapping[str, Any]) -> str:
    names: list[str] = []
    for option in schema.get("oneOf") or ():
        kind = option.get("type") if isinstance(option, Mapping) else None
        for name in kind if isinstance(kind, list) else [kind]:
            if isinstance(name, str) and name != "null" and name not in names:
                names.append(name)
    return ", ".join(names) or "see the schema"
