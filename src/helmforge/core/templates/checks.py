"""Checks of a parsed template against the Kubernetes schemas (``validate_template``).

Each resource is materialised with a sample context and every ``${values.X}`` replaced by the
parameter's default (or, for a required parameter without one, a sample of its type), then
validated against the schema of its kind. Parameter defaults and layer values are checked
against the derived values schema; a parameter bound to fields of different types is an
error; a kind the schemas do not know (a CRD) is a warning, but an apiVersion that Kubernetes
removed by the template's version (``removed_apis``) is an error naming the replacement.
"""

from __future__ import annotations

__all__ = [
    "SAMPLE_CONTEXT",
    "check_template",
    "environment_problems",
    "name_problem",
    "sample_values",
]

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from helmforge.core.contexts import Context
from helmforge.core.schemas.validation import Validator
from helmforge.core.templates.cluster_names import RENAMED_KINDS
from helmforge.core.templates.layering import resolve_context_text
from helmforge.core.templates.models import Problem
from helmforge.core.templates.placeholders import (
    ReleaseRef,
    ValuesRef,
    parse_placeholders,
    substitute_context,
)
from helmforge.core.templates.removed_apis import removed_api, removed_api_message
from helmforge.core.templates.value_schemas import (
    parameter_schemas,
    parameter_type,
    stringified_fields,
    type_conflicts,
)

if TYPE_CHECKING:
    from helmforge.core.schemas.kubernetes import SchemaSet
    from helmforge.core.templates.models import Template

SAMPLE_CONTEXT = Context(
    product="product", customer="customer", environment="environment", instance="instance",
    version="1.0.0",
)  # fmt: skip
type FieldPath = tuple[str | int, ...]
_SAMPLES: dict[str, Any] = {
    "string": "sample",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "object": {},
    "array": [],
    "any": "sample",
}


def sample_values(template: Template, *, schemas: SchemaSet) -> dict[str, Any]:
    """Dotted parameter path -> a value for checks: its default, else a sample of its type."""
    ctx = SAMPLE_CONTEXT.as_dict()
    types = parameter_schemas(template, schemas=schemas)
    result: dict[str, Any] = {}
    for dotted, parameter in template.parameters.items():
        if parameter.has_default and parameter.default is not None:
            result[dotted] = resolve_context_text(parameter.default, ctx)
        else:
            result[dotted] = _SAMPLES[parameter_type(types[dotted])]
    for group in template.groups:
        tree: dict[str, Any] = {}
        for dotted, value in result.items():
            if dotted.startswith(group + "."):
                node = tree
                rest = dotted[len(group) + 1 :].split(".")
                for key in rest[:-1]:
                    node = node.setdefault(key, {})
                node[rest[-1]] = value
        result[group] = tree
    return result


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _release_references(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[FieldPath]:
    """The paths of the strings in ``node`` that hold a ``${release.*}`` placeholder."""
    if isinstance(node, str):
        if "${release." in node and any(
            isinstance(segment, ReleaseRef) for segment in parse_placeholders(node)
        ):
            yield path
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _release_references(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _release_references(item, (*path, index))


def _materialise(
    node: Any,
    values: Mapping[str, Any],
    ctx: dict[str, str],
    *,
    quoted: frozenset[tuple[str | int, ...]] = frozenset(),
    path: tuple[str | int, ...] = (),
) -> Any:
    if isinstance(node, str):
        if "${" not in node:
            return node
        # ${release.namespace}: the chart's name stands in (an instance's default namespace)
        segments = substitute_context(parse_placeholders(node), ctx, release_namespace=ctx["name"])
        if len(segments) == 1 and isinstance(segments[0], ValuesRef):
            value = values[segments[0].dotted]
            return _text(value) if path in quoted else value
        return "".join(
            _text(values[s.dotted]) if isinstance(s, ValuesRef) else str(s) for s in segments
        )
    if isinstance(node, Mapping):
        return {
            key: _materialise(value, values, ctx, quoted=quoted, path=(*path, key))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            _materialise(item, values, ctx, quoted=quoted, path=(*path, index))
            for index, item in enumerate(node)
        ]
    return node


def environment_problems(template: Template, environments: Sequence[str]) -> list[Problem]:
    """``when.environment`` options no configured environment has (HELMFORGE_ENVIRONMENTS).

    A layer or resource none of whose environments exists can never apply: an error. One
    unknown option beside known ones is a warning (it may be an environment still to come).
    """
    known = set(environments)
    problems: list[Problem] = []
    chosen = [("layers", layer.index, layer.when) for layer in template.layers]
    chosen += [("resources", resource.index, resource.when) for resource in template.resources]
    for section, index, when in chosen:
        options = when.get("environment", ())
        unknown = [option for option in options if option not in known]
        if not unknown:
            continue
        never = len(unknown) == len(options)
        names = ", ".join(repr(option) for option in unknown)
        consequence = (
            f"this {section[:-1]} can never apply" if never else "that option can never match"
        )
        problems.append(
            Problem(
                f"when.environment: {names} is no configured environment "
                f"({', '.join(environments)}); {consequence}",
                template.where(("spec", section, index, "when", "environment")),
                "error" if never else "warning",
            )
        )
    return problems


def check_template(
    template: Template, *, schemas: SchemaSet, environments: Sequence[str] | None = None
) -> list[Problem]:
    """Every schema problem of the template, sorted by line; see the module docstring.

    With ``environments`` (the configured ones), ``when.environment`` is checked against
    them too (``environment_problems``).
    """
    problems: list[Problem] = (
        [] if environments is None else environment_problems(template, environments)
    )
    ctx = SAMPLE_CONTEXT.as_dict()
    values = sample_values(template, schemas=schemas)
    defined = _defined_kinds(template)
    for resource in template.resources:
        base = ("spec", "resources", resource.index, "manifest")
        quoted = frozenset(
            path
            for resource_id, path in stringified_fields(template, schemas=schemas)
            if resource_id == resource.id
        )
        obj = _materialise(resource.manifest, values, ctx, quoted=quoted)
        metadata = obj.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        problem = name_problem(resource.kind, name)
        if problem:
            problems.append(
                Problem(
                    f"{resource.kind} {resource.id}: {problem}",
                    template.where((*base, "metadata", "name")),
                )
            )
        if resource.kind in RENAMED_KINDS and "${" not in resource.name:
            literal = resource.name
            problems.append(
                Problem(
                    f"{resource.kind} {resource.id} is cluster-scoped with the literal name "
                    f"{literal!r}: a second instance of this chart collides with it; name it "
                    f"${{ctx.name}}-{literal}",
                    template.where((*base, "metadata", "name")),
                    "warning",
                )
            )
        if resource.kind == "CustomResourceDefinition":
            problems.extend(
                Problem(
                    f"{resource.id}: a CustomResourceDefinition goes to the chart's crds/, which "
                    f"Helm does not template: ${{values.{binding.parameter}}} cannot be used "
                    "here (write the text literally, or use ${ctx.*})",
                    template.where((*base, *binding.path)),
                )
                for binding in template.bindings
                if binding.resource_id == resource.id
            )
            problems.extend(
                Problem(
                    f"{resource.id}: a CustomResourceDefinition goes to the chart's crds/, which "
                    "Helm does not template: ${release.namespace} cannot be used here (write "
                    "the namespace literally)",
                    template.where((*base, *path)),
                )
                for path in _release_references(resource.manifest)
            )
        removed = removed_api(
            resource.api_version,
            resource.kind,
            template.kubernetes_version or schemas.kubernetes_version,
        )
        if removed is not None:
            message = removed_api_message(
                removed, template.kubernetes_version or schemas.kubernetes_version
            )
            problems.append(
                Problem(f"{resource.id}: {message}", template.where((*base, "apiVersion")))
            )
            continue
        violations = schemas.validate(obj)
        if violations is None:
            why = (
                "its CustomResourceDefinition is in this template, installed from crds/"
                if (resource.api_version, resource.kind) in defined
                else "a CRD?"
            )
            problems.append(
                Problem(
                    f"{resource.kind} ({resource.api_version}) is not in the Kubernetes "
                    f"{schemas.kubernetes_version} schemas ({why}): it is not checked",
                    template.where((*base, "kind")),
                    "warning",
                )
            )
            continue
        for violation in violations:
            problems.append(
                Problem(
                    f"{resource.kind} {resource.id}: {violation.message}",
                    template.where((*base, *violation.path)),
                )
            )
    for conflict in type_conflicts(template, schemas=schemas):
        problems.append(
            Problem(
                f"parameter {conflict.parameter} is bound to fields of different types "
                f"({conflict.first} and {conflict.second}, here in {conflict.resource_id}); "
                "use two parameters",
                template.where(
                    (
                        "spec",
                        "resources",
                        _index(template, conflict.resource_id),
                        "manifest",
                        *conflict.path,
                    )
                ),
            )
        )
    problems.extend(_check_values(template, schemas))
    return sorted(problems, key=lambda p: (p.location.line or 0, p.location.path or "", p.message))


_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_PATH_SEGMENT_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
# Kinds whose names the API server holds to a label (or shorter): the name becomes a label
# value or a DNS name (Service), or gets a suffix (a CronJob's Jobs add 11 characters).
_LABEL_NAMES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "Service": (
        _DNS_1035,
        63,
        "a DNS-1035 label (lower-case letters, digits and '-', starting with a letter)",
    ),
    "Namespace": (_DNS_1123_LABEL, 63, "a DNS-1123 label"),
    "Job": (_SUBDOMAIN, 63, "a DNS-1123 subdomain"),
    "CronJob": (_SUBDOMAIN, 52, "a DNS-1123 subdomain"),
}


def name_problem(kind: str, name: Any) -> str | None:
    """Why Kubernetes (and Helm lint) would refuse this object name, or None."""
    if not isinstance(name, str) or not name:
        return "metadata.name must be a non-empty string"
    if kind in _PATH_SEGMENT_KINDS:
        if name in (".", "..") or "/" in name or "%" in name:
            return f"name {name!r} may not be '.', '..' or contain '/' or '%'"
        return None
    if kind in _LABEL_NAMES:
        pattern, limit, what = _LABEL_NAMES[kind]
        if len(name) > limit or not pattern.match(name):
            return f"{kind} name {name!r} must be {what} of at most {limit} characters"
        return None
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        return (
            f"name {name!r} is not a DNS-1123 subdomain (lower-case letters, digits, '-' and "
            "'.', starting and ending alphanumeric, at most 253 characters)"
        )
    return None


def _defined_kinds(template: Template) -> set[tuple[str, str]]:
    """(apiVersion, kind) of the custom resources the template's own CRDs define."""
    found: set[tuple[str, str]] = set()
    for resource in template.resources:
        spec = resource.manifest.get("spec")
        if resource.kind != "CustomResourceDefinition" or not isinstance(spec, Mapping):
            continue
        names = spec.get("names")
        kind = names.get("kind") if isinstance(names, Mapping) else None
        versions = spec.get("versions")
        for version in versions if isinstance(versions, list) else []:
            if isinstance(version, Mapping) and isinstance(kind, str):
                found.add((f"{spec.get('group')}/{version.get('name')}", kind))
    return found


def _index(template: Template, resource_id: str) -> int:
    return next(r.index for r in template.resources if r.id == resource_id)


def _check_values(template: Template, schemas: SchemaSet) -> list[Problem]:
    from helmforge.core.templates.value_schemas import values_schema

    definitions = values_schema(template, schemas=schemas).get("definitions", {})
    types = parameter_schemas(template, schemas=schemas)
    ctx = SAMPLE_CONTEXT.as_dict()
    problems: list[Problem] = []
    checks: list[tuple[str, Any, FieldPath]] = []
    for dotted, parameter in template.parameters.items():
        if parameter.has_default and not (parameter.required and parameter.default is None):
            checks.append(
                (dotted, parameter.default, ("spec", "values", *parameter.path, "default"))
            )
    for layer in template.layers:
        for dotted, value, layer_path in _layer_items(layer.values, ()):
            if dotted in template.parameters:
                where: FieldPath = ("spec", "layers", layer.index, "values", *layer_path)
                checks.append((dotted, value, where))
    validators: dict[str, Validator] = {}  # compiling costs more than checking: once each
    for dotted, value, path in checks:
        if dotted not in validators:
            validators[dotted] = Validator({**types[dotted], "definitions": definitions})
        for error in validators[dotted].errors(resolve_context_text(value, ctx)):
            inner = "".join(
                f".{step}" if isinstance(step, str) else f"[{step}]" for step in error.path
            )
            problems.append(
                Problem(
                    f"{dotted}{inner}: {error.message}",
                    template.where((*path, *error.path)),
                )
            )
    return problems


def _layer_items(
    node: Mapping[str, Any], prefix: tuple[str, ...]
) -> list[tuple[str, Any, tuple[str, ...]]]:
    items: list[tuple[str, Any, tuple[str, ...]]] = []
    for key, value in node.items():
        items.append((".".join((*prefix, key)), value, (*prefix, key)))
        if isinstance(value, Mapping):
            items.extend(_layer_items(value, (*prefix, key)))
    return items
