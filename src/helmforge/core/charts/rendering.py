"""Rendering a chart (DESIGN §4): a template plus a context in, the chart's files out.

``render_chart`` is a pure function: the same template, context, overrides, chart version and
generator version always give the same bytes (keys sorted where order means nothing, no
timestamps). Values are checked against values.schema.json before anything is rendered.
"""

from __future__ import annotations

__all__ = [
    "RenderedChart",
    "chart_version_for",
    "check_values",
    "effective_values",
    "render_chart",
]

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from helmforge.core.charts.crds import crd_labels, crd_text, is_crd
from helmforge.core.charts.files import (
    HELMIGNORE,
    chart_yaml,
    content_digest,
    helpers_tpl,
    notes_txt,
    readme_md,
    values_yaml,
)
from helmforge.core.charts.go_templates import (
    Interpolation,
    LabelsBlock,
    ValueReference,
    emit_document,
)
from helmforge.core.contexts import CONTEXT_KEYS, parse_context
from helmforge.core.errors import InputError, Location
from helmforge.core.schemas.validation import SchemaViolation, Validator
from helmforge.core.templates.checks import name_problem
from helmforge.core.templates.layering import effective_values, matches
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
    values_schema,
)
from helmforge.core.versions import is_semver

if TYPE_CHECKING:
    from helmforge.core.contexts import Context
    from helmforge.core.schemas.kubernetes import SchemaSet
    from helmforge.core.templates.models import Resource, Template


@dataclass(frozen=True)
class RenderedChart:
    """A generated chart: its identity and its files (paths relative to the chart folder)."""

    name: str
    version: str
    app_version: str
    files: dict[str, bytes]


def chart_version_for(context: Context, chart_version: str | None) -> str:
    """The chart version: ``chart_version`` if given, else the app version if it is SemVer.

    Raises ``InputError`` for a non-SemVer version, asking for ``--chart-version``.
    """
    if chart_version is not None:
        if not is_semver(chart_version):
            raise InputError(
                f"chart version {chart_version!r} is not SemVer (MAJOR.MINOR.PATCH such as 1.2.3; "
                "no 'v', no leading zeros)",
                location=Location(path="chart_version"),
            )
        return chart_version
    if not is_semver(context.version):
        raise InputError(
            f"the app version {context.version!r} is not SemVer, so it cannot be the chart "
            "version; give one with --chart-version (e.g. 1.0.0)",
            location=Location(path="version"),
        )
    return context.version


def _validator(
    template: Template, schemas: SchemaSet, deferred: frozenset[str] = frozenset()
) -> Validator:
    key = ("values_validator", schemas, deferred)
    validator = template.cache.get(key)
    if not isinstance(validator, Validator):
        schema = values_schema(template, schemas=schemas)
        if deferred:
            schema = _without_required(schema, [template.parameters[d].path for d in deferred])
        validator = Validator(schema)
        template.cache[key] = validator
    return validator


def _without_required(schema: Mapping[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """A copy of the values schema in which the parameters at ``paths`` are not required (the
    objects holding them stay required: their parents always exist in the values)."""
    copied: dict[str, Any] = json.loads(json.dumps(schema))
    for path in paths:
        node = copied
        for key in path[:-1]:
            node = node["properties"][key]
        if path[-1] in node.get("required", ()):
            node["required"] = [name for name in node["required"] if name != path[-1]]
    return copied


def check_values(
    template: Template,
    values: Mapping[str, Any],
    *,
    schemas: SchemaSet,
    deferred: frozenset[str] = frozenset(),
) -> None:
    """Raise ``InputError`` listing every way ``values`` breaks the derived values schema.

    Each problem names the value path, what is wrong and what would be valid. Required
    parameters named in ``deferred`` (dotted) may be missing: whoever installs the chart
    gives them (an instance's values file).
    """
    try:  # fast path: the C encoder finds no surrogate
        json.dumps(values, ensure_ascii=False).encode()
        broken: list[str] = []
    except (UnicodeEncodeError, TypeError, ValueError):
        broken = _surrogate_paths(values, "values")
    if broken:
        raise InputError(
            f"{', '.join(broken)}: text with lone UTF-16 surrogates is not valid Unicode",
            location=Location(path=broken[0]),
        )
    violations = _validator(template, schemas, deferred).errors(values)
    if not violations:
        return
    problems = tuple(
        InputError(
            _describe(violation, template, schemas),
            location=Location(path=_value_path(violation.path)),
        )
        for violation in violations
    )
    raise InputError(
        "invalid values: " + "; ".join(str(problem) for problem in problems),
        problems=problems,
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_paths(node: Any, path: str) -> list[str]:
    if isinstance(node, str):
        return [path] if _SURROGATE.search(node) else []
    found: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            child = f"{path}.{key}"
            if isinstance(key, str) and _SURROGATE.search(key):
                found.append(child)
            found.extend(_surrogate_paths(value, child))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_surrogate_paths(item, f"{path}[{index}]"))
    return found


def _value_path(path: Any) -> str:
    out = "values"
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}"
    return out


def _describe(violation: SchemaViolation, template: Template, schemas: SchemaSet) -> str:
    if violation.keyword == "required":
        return f"{violation.message}; it has no default: set it with --set or -f"
    dotted = ".".join(str(step) for step in violation.path)
    quoted = stringified_fields(template, schemas=schemas)
    # name the field the type came from: a string field that only quotes the value comes last
    bindings = sorted(
        (b for b in template.bindings if b.parameter == dotted and b.whole),
        key=lambda b: (b.resource_id, b.path) in quoted,
    )
    where = f" (from {_dotted(bindings[0].path)} of {bindings[0].resource_id})" if bindings else ""
    return f"{violation.message}{where}"


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def render_chart(
    template: Template,
    context: Context,
    *,
    schemas: SchemaSet,
    overrides: Mapping[str, Any] | None = None,
    chart_version: str | None = None,
    generator_version: str,
    defer_required: bool = False,
) -> RenderedChart:
    """Render the chart for ``context``.

    ``overrides`` is the nested values tree from ``-f``/``--set`` (merged last). Raises
    ``InputError`` when the chart version is missing or not SemVer, a required value has no
    value (unless ``defer_required``: the chart of an instance, whose values file gives them
    and is checked with them), or the values break values.schema.json (each problem named by
    its value path).
    """
    # Context values are written into templates unescaped (see _MARKS): a Context built
    # without parse_context must still hold only DNS labels and a plain version.
    parse_context({key: getattr(context, key) for key in CONTEXT_KEYS})
    version = chart_version_for(context, chart_version)
    values, provenance = effective_values(
        template, context, overrides=overrides or {}, defer_required=defer_required
    )
    deferred = frozenset(dotted for dotted in template.parameters if dotted not in provenance)
    check_values(template, values, schemas=schemas, deferred=deferred)
    name = context.chart_name
    ctx = context.as_dict()
    resources = [r for r in template.resources if matches(r.when, ctx)]
    _check_names(template, resources, ctx)
    _check_removed_apis(template, resources, schemas)
    files: dict[str, str] = {
        ".helmignore": HELMIGNORE,
        "Chart.yaml": chart_yaml(
            template, context, version=version, generator_version=generator_version
        ),
        "README.md": readme_md(
            template,
            context,
            values,
            types=parameter_schemas(template, schemas=schemas),
            version=version,
        ),
        "values.yaml": values_yaml(template, values),
        "values.schema.json": _schema_text(template, schemas),
        "templates/_helpers.tpl": helpers_tpl(name),
        "templates/NOTES.txt": notes_txt(template, context, resources),
    }
    for resource in resources:
        if is_crd(resource):
            labels = crd_labels(name, version=version, app_version=context.version)
            files[f"crds/{resource.id}.yaml"] = crd_text(template, resource, ctx, labels)
        else:
            files[f"templates/{resource.id}.yaml"] = _resource_text(
                template, schemas, resource, ctx
            )
    encoded = {path: files[path].encode() for path in sorted(files)}
    # The content digest covers every file but the version, and is then written into
    # Chart.yaml: the same content under a new version keeps its digest.
    encoded["Chart.yaml"] = chart_yaml(
        template,
        context,
        version=version,
        generator_version=generator_version,
        content_digest=content_digest(encoded, version=version),
    ).encode()
    return RenderedChart(name=name, version=version, app_version=context.version, files=encoded)


def _check_names(template: Template, resources: list[Resource], ctx: dict[str, str]) -> None:
    """Refuse object names that this context makes invalid (too long, a '+' of a version).

    Names built from values are Helm's to render and are not checked here.
    """
    problems: list[InputError] = []
    for resource in resources:
        metadata = resource.manifest.get("metadata")
        raw = metadata.get("name") if isinstance(metadata, Mapping) else None
        if not isinstance(raw, str):
            continue
        segments = substitute_context(parse_placeholders(raw), ctx) if "${" in raw else [raw]
        if any(isinstance(segment, (ValuesRef, ReleaseRef)) for segment in segments):
            continue
        problem = name_problem(resource.kind, "".join(str(segment) for segment in segments))
        if problem:
            path = ("spec", "resources", resource.index, "manifest", "metadata", "name")
            problems.append(
                InputError(
                    f"for {ctx['name']}: {resource.kind} {resource.id}: {problem}",
                    location=template.where(path),
                )
            )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InputError("; ".join(map(str, problems)), problems=tuple(problems))


def _check_removed_apis(template: Template, resources: list[Resource], schemas: SchemaSet) -> None:
    """Refuse objects whose apiVersion Kubernetes no longer serves (Helm cannot install them)."""
    target = template.kubernetes_version or schemas.kubernetes_version
    problems = [
        InputError(
            f"{resource.kind} {resource.id}: {removed_api_message(removed, target)}",
            location=template.where(
                ("spec", "resources", resource.index, "manifest", "apiVersion")
            ),
        )
        for resource in resources
        if (removed := removed_api(resource.api_version, resource.kind, target)) is not None
    ]
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InputError("; ".join(map(str, problems)), problems=tuple(problems))


def _schema_text(template: Template, schemas: SchemaSet) -> str:
    key = ("values_schema_text", schemas)
    text = template.cache.get(key)
    if not isinstance(text, str):
        schema = values_schema(template, schemas=schemas)
        text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        template.cache[key] = text
    return text


# Resources are written once per template with these markers standing for the context's
# values, then each chart only replaces the markers. Context values are DNS labels and
# versions ([A-Za-z0-9._+-]), which need no escaping in YAML or Go strings; strings holding
# a marker are always written double-quoted, so the choice of quoting never depends on them.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARKS = {key: f"{_MARK_OPEN}{key}{_MARK_CLOSE}" for key in (*CONTEXT_KEYS, "name")}


def _resource_text(
    template: Template, schemas: SchemaSet, resource: Resource, ctx: dict[str, str]
) -> str:
    key = ("resource_texts", schemas)
    texts = template.cache.get(key)
    if not isinstance(texts, dict):
        texts = {}
        if not _uses_marks(template):
            types = _reference_types(template, schemas)
            for item in template.resources:
                texts[item.id] = _render_resource(
                    item, _MARKS, types, _MARKS["name"], quoted=_quoted(template, schemas, item)
                )
        template.cache[key] = texts
    text: str | None = texts.get(resource.id)
    if text is None:
        return _render_resource(
            resource,
            ctx,
            _reference_types(template, schemas),
            ctx["name"],
            quoted=_quoted(template, schemas, resource),
        )
    if _MARK_OPEN in text:
        for name, mark in _MARKS.items():
            text = text.replace(mark, ctx[name])
    return text


def _uses_marks(template: Template) -> bool:
    stack: list[Any] = [resource.manifest for resource in template.resources]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _MARK_OPEN in node or _MARK_CLOSE in node:
                return True
        elif isinstance(node, Mapping):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _reference_types(template: Template, schemas: SchemaSet) -> dict[str, Any]:
    key = ("reference_types", schemas)
    cached = template.cache.get(key)
    if isinstance(cached, dict):
        return cached
    schemas_by_parameter = parameter_schemas(template, schemas=schemas)
    types: dict[str, Any] = {
        dotted: parameter_type(schema) for dotted, schema in schemas_by_parameter.items()
    }
    types.update(dict.fromkeys(template.groups, "object"))
    template.cache[key] = types
    return types


def _quoted(
    template: Template, schemas: SchemaSet, resource: Resource
) -> frozenset[tuple[str | int, ...]]:
    fields = stringified_fields(template, schemas=schemas)
    return frozenset(path for resource_id, path in fields if resource_id == resource.id)


def _convert(
    node: Any,
    ctx: dict[str, str],
    types: Mapping[str, Any],
    *,
    quoted: frozenset[tuple[str | int, ...]] = frozenset(),
    path: tuple[str | int, ...] = (),
) -> Any:
    if isinstance(node, str):
        if "${" not in node:
            return node
        segments = substitute_context(parse_placeholders(node), ctx)
        if not segments:
            return ""
        if len(segments) == 1:
            only = segments[0]
            if isinstance(only, ValuesRef):
                reference = ValueReference(only.path, types[only.dotted])
                # a string field holding a number or boolean parameter: written quoted
                return Interpolation((reference,)) if path in quoted else reference
            if isinstance(only, ReleaseRef):
                return _release_reference(only)
            return only
        return Interpolation(
            tuple(
                ValueReference(s.path, types[s.dotted])
                if isinstance(s, ValuesRef)
                else _release_reference(s)
                if isinstance(s, ReleaseRef)
                else str(s)
                for s in segments
            )
        )
    if isinstance(node, Mapping):
        return {
            key: _convert(value, ctx, types, quoted=quoted, path=(*path, key))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            _convert(item, ctx, types, quoted=quoted, path=(*path, index))
            for index, item in enumerate(node)
        ]
    return node


def _release_reference(reference: ReleaseRef) -> ValueReference:
    """``${release.namespace}`` as Helm's ``.Release.Namespace`` (a string)."""
    root, _, name = reference.expression.rpartition(".")
    return ValueReference((name,), "string", root=root)


def _render_resource(
    resource: Resource,
    ctx: dict[str, str],
    types: Mapping[str, Any],
    helper: str,
    *,
    quoted: frozenset[tuple[str | int, ...]] = frozenset(),
) -> str:
    converted = _convert(resource.manifest, ctx, types, quoted=quoted)
    metadata = converted.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    own = metadata.get("labels")
    labels = LabelsBlock(
        f"{helper}.labels",
        own if isinstance(own, (Mapping, ValueReference)) else None,
    )
    new_metadata: dict[str, Any] = {}
    for key, value in metadata.items():
        if key != "labels":
            new_metadata[key] = value
        if key == "name":
            new_metadata["labels"] = labels
    if "labels" not in new_metadata:
        new_metadata["labels"] = labels
    converted["metadata"] = new_metadata
    return emit_document(converted)
