"""Schema import: CRDs, a cluster's OpenAPI v3 documents and swagger.json, as JSON schemas.

Every importer returns definitions in the shape ``SchemaSet`` consumes: a mapping from
definition name to a JSON schema whose references are internal (``#/$defs/NAME``), where
object definitions carry ``x-kubernetes-group-version-kind``. References are kept as
references, never inlined, so self-referencing definitions (``JSONSchemaProps``) terminate.

Kubernetes extensions are translated to plain JSON Schema:

- ``x-kubernetes-int-or-string`` / ``format: int-or-string``: an integer or a string;
- ``x-kubernetes-preserve-unknown-fields``: unknown keys allowed (otherwise a CRD's object
  with ``properties`` rejects unknown keys, as ``kubectl --validate=strict`` does);
- ``nullable``: ``null`` also allowed.
"""

from __future__ import annotations

__all__ = [
    "SchemaDefinitions",
    "crd_definitions",
    "definition_name_for",
    "definitions_from_documents",
    "openapi_definitions",
]

from collections.abc import Iterable, Mapping
from typing import Any

from helmforge.core.errors import InputError, Location

type SchemaDefinitions = dict[str, dict[str, Any]]

_DEFS = "#/$defs/"
_REF_PREFIXES = ("#/definitions/", "#/components/schemas/")
_GVK = "x-kubernetes-group-version-kind"
_INT_OR_STRING = {"anyOf": [{"type": "integer"}, {"type": "string"}]}


def definition_name_for(group: str, version: str, kind: str) -> str:
    """The Kubernetes-style definition name: ``io.argoproj.v1alpha1.Application``."""
    reversed_group = ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"
    return f"{reversed_group}.{version}.{kind}"


def crd_definitions(crd: Mapping[str, Any], *, source: str) -> SchemaDefinitions:
    """One definition per served version of a CustomResourceDefinition.

    Raises ``InputError`` naming the source and field when the CRD lacks what is needed.
    """
    if crd.get("kind") != "CustomResourceDefinition":
        raise InputError(
            f"expected a CustomResourceDefinition, found kind {crd.get('kind')!r}",
            location=Location(source),
        )
    spec = crd.get("spec")
    if not isinstance(spec, Mapping):
        raise InputError("a CRD needs a spec", location=Location(source, path="spec"))
    group, names = spec.get("group"), spec.get("names")
    kind = names.get("kind") if isinstance(names, Mapping) else None
    if not isinstance(group, str) or not isinstance(kind, str):
        raise InputError(
            "a CRD needs spec.group and spec.names.kind", location=Location(source, path="spec")
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        raise InputError(
            "a CRD needs spec.versions (apiextensions.k8s.io/v1)",
            location=Location(source, path="spec.versions"),
        )
    definitions: SchemaDefinitions = {}
    for index, version in enumerate(versions):
        where = Location(source, path=f"spec.versions[{index}]")
        if not isinstance(version, Mapping) or not isinstance(version.get("name"), str):
            raise InputError("each version needs a name", location=where)
        if version.get("served") is False:
            continue
        raw = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(raw, Mapping):
            raw = (
                spec.get("validation", {}).get("openAPIV3Schema")
                if isinstance(spec.get("validation"), Mapping)
                else None
            )
        schema: dict[str, Any] = (
            _convert(raw, strict=True) if isinstance(raw, Mapping) else {"type": "object"}
        )
        schema[_GVK] = [{"group": group, "version": version["name"], "kind": kind}]
        definitions[definition_name_for(group, version["name"], kind)] = schema
    if not definitions:
        raise InputError(
            f"CRD {kind}.{group} serves no version", location=Location(source, path="spec.versions")
        )
    return definitions


def openapi_definitions(document: Mapping[str, Any], *, source: str) -> SchemaDefinitions:
    """The definitions of a swagger 2.0 document or an OpenAPI v3 document (a cluster's
    ``/openapi/v3/apis/GROUP/VERSION``), references rewritten to ``#/$defs/``.

    Raises ``InputError`` when the document has neither ``definitions`` nor
    ``components.schemas``.
    """
    raw = document.get("definitions")
    if not isinstance(raw, Mapping):
        components = document.get("components")
        raw = components.get("schemas") if isinstance(components, Mapping) else None
    if not isinstance(raw, Mapping):
        raise InputError(
            "not an OpenAPI document: neither definitions (swagger 2.0) nor components.schemas "
            "(OpenAPI 3) found",
            location=Location(source),
        )
    return {
        str(name): _convert(schema, strict=False)
        for name, schema in raw.items()
        if isinstance(schema, Mapping)
    }


def definitions_from_documents(
    documents: Iterable[tuple[Mapping[str, Any], str]],
) -> SchemaDefinitions:
    """Definitions from a mix of CRDs (also inside lists) and OpenAPI documents.

    ``documents`` yields ``(document, source)``; anything else raises ``InputError``.
    """
    definitions: SchemaDefinitions = {}
    for document, source in documents:
        if document.get("kind") == "CustomResourceDefinition":
            definitions.update(crd_definitions(document, source=source))
        elif "definitions" in document or "components" in document:
            definitions.update(openapi_definitions(document, source=source))
        else:
            raise InputError(
                f"not a CRD or an OpenAPI document (kind {document.get('kind')!r}); "
                "expected kind: CustomResourceDefinition, a swagger.json or an OpenAPI v3 document",
                location=Location(source),
            )
    return definitions


def _convert(schema: Mapping[str, Any], *, strict: bool) -> dict[str, Any]:
    """A JSON Schema copy of an OpenAPI schema, iteratively (no recursion limit to hit)."""
    root: dict[str, Any] = {}
    stack: list[tuple[Mapping[str, Any], dict[str, Any]]] = [(schema, root)]
    while stack:
        source, target = stack.pop()
        for key, value in source.items():
            if key == "$ref" and isinstance(value, str):
                target["$ref"] = _rewrite_ref(value)
            elif key in ("properties", "patternProperties", "definitions") and isinstance(
                value, Mapping
            ):
                children: dict[str, Any] = {}
                for name, child in value.items():
                    if isinstance(child, Mapping):
                        children[name] = {}
                        stack.append((child, children[name]))
                target[key] = children
            elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
                target[key] = {}
                stack.append((value, target[key]))
            elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
                target[key] = []
                for child in value:
                    if isinstance(child, Mapping):
                        target[key].append({})
                        stack.append((child, target[key][-1]))
            elif key in ("format",) and value == "int-or-string":
                continue
            elif key not in ("nullable", "x-kubernetes-int-or-string"):
                target[key] = value
        _translate_extensions(source, target, strict=strict)
    return root


def _rewrite_ref(ref: str) -> str:
    for prefix in _REF_PREFIXES:
        if ref.startswith(prefix):
            return _DEFS + ref[len(prefix) :]
    return ref


def _translate_extensions(
    source: Mapping[str, Any], target: dict[str, Any], *, strict: bool
) -> None:
    if source.get("x-kubernetes-int-or-string") is True or source.get("format") == "int-or-string":
        target.pop("type", None)
        target.update(_INT_OR_STRING)
    if source.get("nullable") is True:
        kind = target.get("type")
        if isinstance(kind, str):
            target["type"] = [kind, "null"]
        elif "anyOf" in target:
            target["anyOf"] = [*target["anyOf"], {"type": "null"}]
    if (
        strict
        and "properties" in target
        and "additionalProperties" not in target
        and source.get("x-kubernetes-preserve-unknown-fields") is not True
        and source.get("x-kubernetes-embedded-resource") is not True
    ):
        target["additionalProperties"] = False
