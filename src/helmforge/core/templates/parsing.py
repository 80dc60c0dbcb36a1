"""Templates (DESIGN §3): parse, model and check the YAML blueprint of a chart.

``parse_template`` reads the YAML and checks everything that needs no Kubernetes schema,
collecting every problem (file, line and path each) into one ``InputError``.
``validate_template`` adds the checks against the schemas of ``spec.kubernetesVersion``.
The model types live in ``helmforge.core.templates.models``.
"""

from __future__ import annotations

__all__ = ["parse_template", "read_template", "validate_template"]

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from helmforge.core.contexts import CONTEXT_KEYS, is_dns_label
from helmforge.core.errors import InputError, Location
from helmforge.core.schemas.validation import schema_problems
from helmforge.core.templates.migrations import read_migrations
from helmforge.core.templates.models import (
    API_VERSION,
    PARAMETER_KEYS,
    PARAMETER_TYPES,
    STANDARD_LABELS,
    Binding,
    FieldPath,
    Layer,
    Migration,
    Parameter,
    Problem,
    Resource,
    Template,
    dotted_path,
)
from helmforge.core.templates.placeholders import (
    ContextRef,
    PlaceholderError,
    ReleaseRef,
    ValuesRef,
    parse_placeholders,
)
from helmforge.core.versions import is_semver
from helmforge.core.yaml_codec import LineMap, load_single

if TYPE_CHECKING:
    from helmforge.core.schemas.kubernetes import SchemaSet

_CTX_KEYS = (*CONTEXT_KEYS, "name")
_RELEASE_IN_VALUES = (
    "${release.namespace} is known only when Helm installs the chart, so it may be used in "
    "manifests, not in values (defaults, layers)"
)
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KUBERNETES_VERSION = re.compile(r"1\.\d{1,3}\Z")
CHART_VERSION_POLICIES = ("app", "auto")
"""Values of ``spec.chartVersionPolicy`` (default ``app``); a build may still name a version."""


class _Collector:
    """Gathers problems with their lines while a template is being read."""

    def __init__(self, source: str, lines: LineMap) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[InputError] = []

    def add(self, message: str, path: FieldPath) -> None:
        location = Location(self.source, self.lines.line_of(path), dotted_path(path) or None)
        self.problems.append(InputError(message, location=location))

    def keys(self, node: Mapping[str, Any], allowed: tuple[str, ...], path: FieldPath) -> None:
        for key in node:
            if key not in allowed:
                self.add(f"unknown key {key!r}; valid: {', '.join(allowed)}", (*path, key))

    def mapping(self, node: Any, path: FieldPath, what: str) -> Mapping[str, Any]:
        if node is None:
            return {}
        if not isinstance(node, Mapping):
            self.add(f"{what} must be a mapping", path)
            return {}
        return node

    def text(self, node: Any, path: FieldPath, what: str) -> str:
        if isinstance(node, bool) or not isinstance(node, (str, int, float)) or node == "":
            self.add(f"{what} is required (a non-empty string)", path)
            return ""
        return str(node)


def parse_template(content: str | bytes, *, source: str) -> Template:
    """Read and check a template document.

    Raises ``InputError`` whose ``problems`` lists every problem found, each with
    ``Location(source, line, path)``; YAML syntax errors come alone (nothing else can be read).
    """
    template, problems = read_template(content, source=source)
    if problems:
        count = len(problems)
        raise InputError(
            f"{count} problem{'s' if count > 1 else ''} in template: {problems[0]}",
            location=Location(source),
            problems=problems,
        )
    return template


def read_template(content: str | bytes, *, source: str) -> tuple[Template, tuple[InputError, ...]]:
    """The template as far as it reads, and every problem found while reading it.

    What cannot be read is left out (a bad parameter, layer or resource) or empty, so the
    schema checks of ``validate_template`` can still run on the rest and report in the same
    pass. Raises ``InputError`` only for text that is no YAML at all.
    """
    if isinstance(content, str):
        try:
            content = content.encode()
        except UnicodeEncodeError as error:  # a lone surrogate: not text any file could hold
            raise InputError(
                f"not valid Unicode text (character {error.start} is a lone surrogate)",
                location=Location(source),
            ) from None
    document = load_single(content, source=source, track_lines=True)
    check = _Collector(source, document.lines)
    root = check.mapping(document.data, (), "a template")
    if document.data is None:
        check.add("the template is empty; it starts with apiVersion: helmforge.dev/v1", ())
    check.keys(root, ("apiVersion", "kind", "metadata", "spec"), ())
    if root and root.get("apiVersion") != API_VERSION:
        check.add(f"apiVersion must be {API_VERSION}", ("apiVersion",))
    if root and root.get("kind") != "Template":
        check.add("kind must be Template", ("kind",))
    metadata = check.mapping(root.get("metadata"), ("metadata",), "metadata")
    check.keys(metadata, ("name", "version", "description"), ("metadata",))
    name = check.text(metadata.get("name"), ("metadata", "name"), "metadata.name")
    if name and not is_dns_label(name):
        check.add(
            f"name {name!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending alphanumeric, at most 63 characters)",
            ("metadata", "name"),
        )
    version = check.text(metadata.get("version"), ("metadata", "version"), "metadata.version")
    if version and not is_semver(version):
        check.add(
            f"version {version!r} is not SemVer (MAJOR.MINOR.PATCH such as 1.2.0, no leading "
            "zeros, no 'v')",
            ("metadata", "version"),
        )
    description = metadata.get("description", "")
    if not isinstance(description, str):
        check.add("description must be a string", ("metadata", "description"))
        description = ""
    spec = check.mapping(root.get("spec"), ("spec",), "spec")
    if root and "spec" not in root:
        check.add("spec is required", ())
    check.keys(
        spec,
        ("kubernetesVersion", "chartVersionPolicy", "values", "layers", "resources", "migrations"),
        ("spec",),
    )
    kubernetes_version = _kubernetes_version(spec.get("kubernetesVersion"), check)
    chart_version_policy = spec.get("chartVersionPolicy", "app")
    if chart_version_policy not in CHART_VERSION_POLICIES:
        check.add(
            f"chartVersionPolicy {chart_version_policy!r} is unknown; valid: "
            + ", ".join(CHART_VERSION_POLICIES),
            ("spec", "chartVersionPolicy"),
        )
        chart_version_policy = "app"
    parameters: dict[str, Parameter] = {}
    groups: list[str] = []
    _read_parameters(spec.get("values"), (), check, parameters, groups)
    layers = _read_layers(spec.get("layers"), check, parameters, set(groups))
    resources = _read_resources(spec.get("resources"), check)
    bindings = _read_bindings(resources, check, parameters, set(groups))
    used = {binding.parameter for binding in bindings}
    for parameter in parameters.values():
        if not any(_covers(user, parameter.dotted) for user in used):
            check.add(
                f"parameter {parameter.dotted} is declared but no resource uses it "
                f"(reference it as ${{values.{parameter.dotted}}} or remove it)",
                ("spec", "values", *parameter.path),
            )
    migrations = _migrations(spec.get("migrations"), check, parameters)
    if check.problems:
        layers, resources, bindings = _without_flawed(check.problems, layers, resources, bindings)
    template = Template(
        name=name,
        version=version,
        description=description,
        kubernetes_version=kubernetes_version,
        parameters=parameters,
        groups=tuple(groups),
        layers=layers,
        resources=resources,
        bindings=bindings,
        source=source,
        raw=root,
        lines=document.lines,
        chart_version_policy=chart_version_policy,
        migrations=migrations,
    )
    return template, tuple(check.problems)


def _migrations(
    node: Any, check: _Collector, parameters: Mapping[str, Parameter]
) -> tuple[Migration, ...]:
    migrations, problems = read_migrations(node, line_of=check.lines.line_of, parameters=parameters)
    for message, path in problems:
        check.add(message, path)
    return migrations


def _without_flawed(
    problems: list[InputError],
    layers: tuple[Layer, ...],
    resources: tuple[Resource, ...],
    bindings: tuple[Binding, ...],
) -> tuple[tuple[Layer, ...], tuple[Resource, ...], tuple[Binding, ...]]:
    """Leave out layers and resources that have problems of their own, so the schema checks
    that run on the rest never meet an unknown parameter or a broken placeholder."""
    flawed = [problem.location.path or "" for problem in problems if problem.location]

    def clean(prefix: str) -> bool:
        return not any(
            path == prefix or path.startswith((f"{prefix}.", f"{prefix}[")) for path in flawed
        )

    kept_layers = tuple(layer for layer in layers if clean(f"spec.layers[{layer.index}]"))
    kept = tuple(resource for resource in resources if clean(f"spec.resources[{resource.index}]"))
    ids = {resource.id for resource in kept}
    return kept_layers, kept, tuple(binding for binding in bindings if binding.resource_id in ids)


def _covers(reference: str, parameter: str) -> bool:
    return parameter == reference or parameter.startswith(reference + ".")


def _kubernetes_version(value: Any, check: _Collector) -> str:
    path: FieldPath = ("spec", "kubernetesVersion")
    if isinstance(value, float):
        value = repr(value)
    if not isinstance(value, str) or not _KUBERNETES_VERSION.match(value):
        check.add('kubernetesVersion is required, quoted, of the form "1.NN" (e.g. "1.31")', path)
        return ""
    return value


def _read_parameters(
    node: Any,
    path: tuple[str, ...],
    check: _Collector,
    parameters: dict[str, Parameter],
    groups: list[str],
) -> None:
    where: FieldPath = ("spec", "values", *path)
    if not path and (node is None or node == {}):
        return
    if not isinstance(node, Mapping) or not node:
        check.add(
            "a parameter is a mapping with default/description/required/schema/type, "
            "a group is a mapping of parameters",
            where,
        )
        return
    if path and _is_parameter(node):
        parameters[".".join(path)] = _read_parameter(node, path, check)
        return
    if path:
        groups.append(".".join(path))
    for key, child in node.items():
        if not path and key == "global":
            check.add(
                "'global' is reserved by Helm for values shared with subcharts", (*where, key)
            )
            continue
        if not _PARAMETER_NAME.match(key):
            check.add(
                f"parameter name {key!r} must be letters, digits and '_' (not starting with "
                "a digit), so that Helm templates can reference it",
                (*where, key),
            )
            continue
        _read_parameters(child, (*path, key), check, parameters, groups)


def _is_parameter(node: Mapping[str, Any]) -> bool:
    # A mapping is a parameter when it uses a parameter keyword with a value that a child
    # parameter could not have (a group may hold parameters named "type" or "description").
    return (
        "default" in node
        or isinstance(node.get("required"), bool)
        or isinstance(node.get("type"), str)
        or isinstance(node.get("description"), str)
    )


def _read_parameter(node: Mapping[str, Any], path: tuple[str, ...], check: _Collector) -> Parameter:
    where: FieldPath = ("spec", "values", *path)
    check.keys(node, PARAMETER_KEYS, where)
    description = node.get("description", "")
    if not isinstance(description, str):
        check.add("description must be a string", (*where, "description"))
        description = ""
    required = node.get("required", False)
    if not isinstance(required, bool):
        check.add("required must be true or false", (*where, "required"))
        required = False
    declared_type = node.get("type")
    if declared_type is not None and declared_type not in PARAMETER_TYPES:
        check.add(f"type must be one of {', '.join(PARAMETER_TYPES)}", (*where, "type"))
        declared_type = None
    schema = node.get("schema", {})
    if not isinstance(schema, Mapping):
        check.add("schema must be a mapping (a JSON schema fragment)", (*where, "schema"))
        schema = {}
    else:
        _check_declared_schema(schema, (*where, "schema"), check)
    has_default = "default" in node
    default = node.get("default")
    if has_default:
        for text_path, text in _strings(default, (*where, "default")):
            for segment in _segments(text, text_path, check):
                if isinstance(segment, ValuesRef):
                    check.add(
                        "defaults may use ${ctx.KEY} but not ${values...}; "
                        "use a layer for values that depend on each other",
                        text_path,
                    )
                elif isinstance(segment, ReleaseRef):
                    check.add(_RELEASE_IN_VALUES, text_path)
                elif isinstance(segment, ContextRef) and segment.key not in _CTX_KEYS:
                    check.add(_unknown_ctx(segment.key), text_path)
    elif not required:
        check.add("a parameter needs a default, or required: true", where)
    return Parameter(
        path=path,
        default=default,
        has_default=has_default,
        description=description.strip(),
        required=required,
        schema=dict(schema),
        type=declared_type,
        line=check.lines.line_of(where),
    )


def _check_declared_schema(schema: Mapping[str, Any], where: FieldPath, check: _Collector) -> None:
    for key_path, value in _walk(schema, where):
        if key_path and key_path[-1] == "$ref":
            check.add(
                f"$ref {value!r} is not allowed in a parameter schema; "
                "write the constraints inline",
                key_path,
            )
            return
    for path, message in schema_problems(schema):
        check.add(message, (*where, *path))


def _walk(node: Any, path: FieldPath) -> Iterator[tuple[FieldPath, Any]]:
    stack: list[tuple[FieldPath, Any]] = [(path, node)]
    while stack:
        current_path, current = stack.pop()
        yield current_path, current
        # Children are pushed in reverse so that they come out in document order.
        if isinstance(current, Mapping):
            stack.extend(reversed([((*current_path, k), v) for k, v in current.items()]))
        elif isinstance(current, list):
            stack.extend(reversed([((*current_path, i), v) for i, v in enumerate(current)]))


def _strings(node: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    for item_path, item in _walk(node, path):
        if isinstance(item, str):
            yield item_path, item


def _segments(text: str, path: FieldPath, check: _Collector) -> tuple[Any, ...]:
    try:
        return parse_placeholders(text)
    except PlaceholderError as error:
        check.add(str(error), path)
        return ()


def _unknown_ctx(key: str) -> str:
    return f"unknown context key ${{ctx.{key}}}; valid: {', '.join(_CTX_KEYS)}"


def _read_when(node: Any, path: FieldPath, check: _Collector) -> dict[str, tuple[str, ...]]:
    when: dict[str, tuple[str, ...]] = {}
    if node is None:
        return when
    if not isinstance(node, Mapping) or not node:
        check.add("when maps context keys to a value or a list of values", path)
        return when
    for key, value in node.items():
        if key not in CONTEXT_KEYS:
            check.add(
                f"when on unknown context key {key!r}; valid: {', '.join(CONTEXT_KEYS)}",
                (*path, key),
            )
            continue
        options = value if isinstance(value, list) else [value]
        texts: list[str] = []
        for option in options:
            if (
                isinstance(option, bool)
                or not isinstance(option, (str, int, float))
                or option == ""
            ):
                check.add(f"when.{key} must be a value or a list of values", (*path, key))
                break
            texts.append(str(option))
        else:
            if not texts:
                check.add(f"when.{key} must list at least one value", (*path, key))
            never = [text for text in texts if key != "version" and not is_dns_label(text)]
            if never:
                check.add(
                    f"when.{key}: {', '.join(map(repr, never))} can never match: {key} is a "
                    "DNS-1123 label (lower-case letters, digits and '-')",
                    (*path, key),
                )
            when[key] = tuple(texts)
    return when


def _read_layers(
    node: Any, check: _Collector, parameters: Mapping[str, Parameter], groups: set[str]
) -> tuple[Layer, ...]:
    if node is None:
        return ()
    if not isinstance(node, list):
        check.add("layers must be a list", ("spec", "layers"))
        return ()
    layers: list[Layer] = []
    for index, item in enumerate(node):
        where: FieldPath = ("spec", "layers", index)
        if not isinstance(item, Mapping):
            check.add("a layer is a mapping with when and values", where)
            continue
        check.keys(item, ("when", "values"), where)
        when = _read_when(item.get("when"), (*where, "when"), check)
        values = check.mapping(item.get("values"), (*where, "values"), "values")
        _check_value_paths(
            values,
            prefix=(),
            where=(*where, "values"),
            check=check,
            parameters=parameters,
            groups=groups,
        )
        layers.append(Layer(index, when, values, check.lines.line_of(where)))
    return tuple(layers)


def _check_value_paths(
    node: Mapping[str, Any],
    *,
    prefix: tuple[str, ...],
    where: FieldPath,
    check: _Collector,
    parameters: Mapping[str, Parameter],
    groups: set[str],
) -> None:
    for key, value in node.items():
        dotted = ".".join((*prefix, key))
        if dotted in parameters:
            for text_path, text in _strings(value, (*where, key)):
                for segment in _segments(text, text_path, check):
                    if isinstance(segment, ValuesRef):
                        check.add("layer values may use ${ctx.KEY} but not ${values...}", text_path)
                    elif isinstance(segment, ReleaseRef):
                        check.add(_RELEASE_IN_VALUES, text_path)
                    elif isinstance(segment, ContextRef) and segment.key not in _CTX_KEYS:
                        check.add(_unknown_ctx(segment.key), text_path)
        elif dotted in groups:
            if isinstance(value, Mapping):
                _check_value_paths(
                    value,
                    prefix=(*prefix, key),
                    where=(*where, key),
                    check=check,
                    parameters=parameters,
                    groups=groups,
                )
            else:
                check.add(f"{dotted} is a group of parameters: give a mapping", (*where, key))
        else:
            check.add(
                f"{dotted} is not a declared parameter; valid here: "
                f"{', '.join(_children(prefix, parameters, groups)) or '(none)'}",
                (*where, key),
            )


def _children(
    prefix: tuple[str, ...], parameters: Mapping[str, Parameter], groups: set[str]
) -> list[str]:
    names = {
        path.split(".")[len(prefix)]
        for path in (*parameters, *groups)
        if tuple(path.split("."))[: len(prefix)] == prefix and len(path.split(".")) > len(prefix)
    }
    return sorted(names)


def _read_resources(node: Any, check: _Collector) -> tuple[Resource, ...]:
    if not isinstance(node, list) or not node:
        check.add("resources must be a non-empty list", ("spec", "resources"))
        return ()
    resources: list[Resource] = []
    ids: dict[str, int] = {}
    names: dict[tuple[str, str], int] = {}
    for index, item in enumerate(node):
        where: FieldPath = ("spec", "resources", index)
        if not isinstance(item, Mapping):
            check.add("a resource is a mapping with id, manifest and optional when", where)
            continue
        check.keys(item, ("id", "when", "manifest"), where)
        resource_id = check.text(item.get("id"), (*where, "id"), "id")
        if resource_id and not is_dns_label(resource_id):
            check.add(
                f"id {resource_id!r} must be a DNS-1123 label (it names templates/<id>.yaml)",
                (*where, "id"),
            )
        elif resource_id in ids:
            check.add(
                f"duplicate resource id {resource_id!r} (first at resources[{ids[resource_id]}])",
                (*where, "id"),
            )
        else:
            ids[resource_id] = index
        when = _read_when(item.get("when"), (*where, "when"), check)
        manifest = item.get("manifest")
        if not isinstance(manifest, Mapping) or not manifest:
            check.add("manifest must be a Kubernetes object (a mapping)", (*where, "manifest"))
            continue
        api_version, kind, name = _identity(manifest, (*where, "manifest"), check)
        key = (kind, name)
        if kind and name and key in names:
            check.add(
                f"{kind} {name!r} is defined twice (also at resources[{names[key]}])",
                (*where, "manifest", "metadata", "name"),
            )
        names.setdefault(key, index)
        resources.append(
            Resource(
                resource_id,
                when,
                manifest,
                api_version,
                kind,
                name,
                check.lines.line_of(where),
                index,
            )
        )
    return tuple(resources)


def _identity(
    manifest: Mapping[str, Any], where: FieldPath, check: _Collector
) -> tuple[str, str, str]:
    found: list[str] = []
    for key in ("apiVersion", "kind"):
        value = manifest.get(key)
        if not isinstance(value, str) or not value or "${" in value:
            check.add(f"{key} is required: a literal string", (*where, key))
            found.append("")
        else:
            found.append(value)
    metadata = manifest.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        check.add("metadata.name is required (a string)", (*where, "metadata", "name"))
        name = ""
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if isinstance(labels, Mapping):
        for label in labels:
            if label in STANDARD_LABELS:
                check.add(
                    f"label {label} is set by helmforge on every object; remove it",
                    (*where, "metadata", "labels", label),
                )
    return found[0], found[1], name


def _read_bindings(
    resources: tuple[Resource, ...],
    check: _Collector,
    parameters: Mapping[str, Parameter],
    groups: set[str],
) -> tuple[Binding, ...]:
    bindings: list[Binding] = []
    for resource in resources:
        base: FieldPath = ("spec", "resources", resource.index, "manifest")
        for path, node in _walk(resource.manifest, ()):
            if isinstance(node, Mapping):
                for key in node:
                    if "${" in key:
                        check.add(
                            "placeholders are allowed in values, not in keys", (*base, *path, key)
                        )
            if not isinstance(node, str) or "${" not in node:
                continue
            segments = _segments(node, (*base, *path), check)
            for segment in segments:
                if isinstance(segment, ContextRef):
                    if segment.key not in _CTX_KEYS:
                        check.add(_unknown_ctx(segment.key), (*base, *path))
                elif isinstance(segment, ValuesRef):
                    dotted = segment.dotted
                    if dotted not in parameters and dotted not in groups:
                        owner = next((p for p in parameters if dotted.startswith(p + ".")), None)
                        hint = (
                            f"reference the whole parameter ${{values.{owner}}}"
                            if owner
                            else f"declared: {', '.join(parameters) or '(none)'}"
                        )
                        check.add(
                            f"${{values.{dotted}}} is not a declared parameter; {hint}",
                            (*base, *path),
                        )
                        continue
                    line = check.lines.line_of((*base, *path))
                    bindings.append(Binding(dotted, resource.id, path, len(segments) == 1, line))
    return tuple(bindings)


def validate_template(
    template: Template, *, schemas: SchemaSet, environments: Sequence[str] | None = None
) -> list[Problem]:
    """Check a parsed template against the Kubernetes schemas; problems sorted by location.

    With ``environments`` (the configured ones), every ``when.environment`` must name one.

    Each resource is checked with its placeholders replaced by the parameters' defaults (and a
    sample context). An unknown kind (a CRD) gives a warning. Conflicting types for one
    parameter and defaults that break the derived values schema are errors.
    """
    from helmforge.core.templates.checks import check_template

    return check_template(template, schemas=schemas, environments=environments)
