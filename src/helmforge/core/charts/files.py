"""The fixed files of a generated chart: Chart.yaml, values.yaml, README.md, helpers, NOTES.

Each function returns the file's text; all are deterministic (no clock, stable order).
"""

from __future__ import annotations

__all__ = [
    "HELMIGNORE",
    "chart_yaml",
    "content_digest",
    "helpers_tpl",
    "notes_txt",
    "readme_md",
    "values_yaml",
]

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from helmforge.core.chart_annotations import CONTENT_DIGEST_ANNOTATION
from helmforge.core.charts.go_templates import escape_text, plain_scalar, yaml_quote
from helmforge.core.yaml_codec import dump_yaml

if TYPE_CHECKING:
    from helmforge.core.contexts import Context
    from helmforge.core.templates.models import Resource, Template

HELMIGNORE = """\
# Patterns to ignore when building packages.
.DS_Store
.git/
.gitignore
.bzr/
.bzrignore
.hg/
.hgignore
.svn/
*.swp
*.bak
*.tmp
*.orig
*~
.project
.idea/
*.tmproj
.vscode/
"""


def chart_yaml(
    template: Template,
    context: Context,
    *,
    version: str,
    generator_version: str,
    content_digest: str | None = None,
) -> str:
    """Chart.yaml: identity, quoted appVersion, and provenance annotations (sorted).

    ``content_digest`` (see ``content_digest``) becomes the ``helmforge.dev/content-digest``
    annotation when given.
    """
    annotations = {
        "helmforge.dev/context-customer": context.customer,
        "helmforge.dev/context-environment": context.environment,
        "helmforge.dev/context-instance": context.instance,
        "helmforge.dev/context-product": context.product,
        "helmforge.dev/context-version": context.version,
        "helmforge.dev/generator-version": generator_version,
        "helmforge.dev/template": template.name,
        "helmforge.dev/template-version": template.version,
    }
    if content_digest is not None:
        annotations[CONTENT_DIGEST_ANNOTATION] = content_digest
    annotations = dict(sorted(annotations.items()))
    description = template.description or f"{context.chart_name}, generated from {template.name}"
    lines = [
        "apiVersion: v2",
        f"name: {_scalar(context.chart_name)}",
        f"description: {_scalar(description)}",
        "type: application",
        f"version: {_scalar(version)}",
        f"appVersion: {yaml_quote(context.version)}",
        "annotations:",
    ]
    lines.extend(f"  {key}: {_scalar(value)}" for key, value in annotations.items())
    return "\n".join(lines) + "\n"


def _version_free(path: str, data: bytes, version: str) -> bytes:
    """The file with the chart version taken out (Chart.yaml's ``version:`` line, README's
    "Chart version" mention); other files as they are."""
    if path == "Chart.yaml":
        line = f"version: {_scalar(version)}\n".encode()
        return data.replace(line, b"", 1)
    if path == "README.md":
        return data.replace(f"Chart version `{version}`,".encode(), b"Chart version,", 1)
    return data


def content_digest(files: Mapping[str, bytes], *, version: str) -> str:
    """The digest of a chart's content regardless of its version: ``sha256:<hex>``.

    Computed before the annotation is added: for every file in sorted path order, the
    SHA-256 is fed the UTF-8 path, a NUL, the decimal byte length, a NUL and the bytes, where
    Chart.yaml lacks its ``version:`` line and README.md its chart version mention. The same
    chart content published under another version has the same digest.
    """
    digest = hashlib.sha256()
    for path in sorted(files):
        data = _version_free(path, files[path], version)
        digest.update(path.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return "sha256:" + digest.hexdigest()


def _scalar(text: str) -> str:
    return plain_scalar(text) or yaml_quote(text)


def _parameter_tree(template: Template) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for parameter in template.parameters.values():
        node = tree
        for key in parameter.path[:-1]:
            node = node.setdefault(key, {})
        node[parameter.path[-1]] = parameter
    return tree


def values_yaml(template: Template, values: Mapping[str, Any]) -> str:
    """values.yaml in declaration order, each parameter under its ``# --`` description."""
    lines: list[str] = [
        f"# Values of {context_free_title(template)}.",
        "# Each value has a '# --' description (helm-docs); values.schema.json checks them.",
    ]
    _values_lines(_parameter_tree(template), values, 0, lines)
    return "\n".join(lines) + "\n"


def context_free_title(template: Template) -> str:
    return f"template {template.name} {template.version}"


def _values_lines(
    tree: Mapping[str, Any], values: Mapping[str, Any], indent: int, lines: list[str]
) -> None:
    pad = " " * indent
    for key, node in tree.items():
        if key not in values:
            continue
        if isinstance(node, Mapping):
            lines.append(f"{pad}{key}:")
            child = values[key]
            _values_lines(node, child if isinstance(child, Mapping) else {}, indent + 2, lines)
            continue
        description = node.description or f"{node.dotted}"
        for number, text in enumerate(description.splitlines() or [""]):
            lines.append(f"{pad}# {'-- ' if number == 0 else ''}{text}".rstrip())
        written = _data_lines(key, values[key], indent)
        if written is None:  # multi-line text: PyYAML writes it as a literal block
            written = [pad + text for text in dump_yaml({key: values[key]}).splitlines()]
        lines.extend(written)


def _data_lines(key: str, value: Any, indent: int) -> list[str] | None:
    """``key: value`` as block YAML data, or None when a string needs a literal block."""
    pad = " " * indent
    name = plain_scalar(key)
    if name is None:
        return None
    if isinstance(value, Mapping) and value:
        lines = [f"{pad}{name}:"]
        for child_key, child in value.items():
            child_lines = _data_lines(child_key, child, indent + 2)
            if child_lines is None:
                return None
            lines.extend(child_lines)
        return lines
    if isinstance(value, list) and value:
        lines = [f"{pad}{name}:"]
        for item in value:
            item_lines = _item_lines(item, indent + 2)
            if item_lines is None:
                return None
            lines.extend(item_lines)
        return lines
    if isinstance(value, Mapping):
        return [f"{pad}{name}: {{}}"]
    if isinstance(value, list):
        return [f"{pad}{name}: []"]
    text = plain_scalar(value)
    return None if text is None else [f"{pad}{name}: {text}"]


def _item_lines(item: Any, indent: int) -> list[str] | None:
    pad = " " * indent
    if isinstance(item, Mapping) and item:
        lines: list[str] = []
        for child_key, child in item.items():
            child_lines = _data_lines(child_key, child, indent + 2)
            if child_lines is None:
                return None
            lines.extend(child_lines)
        lines[0] = f"{pad}- {lines[0][indent + 2 :]}"
        return lines
    if isinstance(item, list) and item:
        nested: list[str] = [f"{pad}-"]
        for sub_item in item:
            sub_lines = _item_lines(sub_item, indent + 2)
            if sub_lines is None:
                return None
            nested.extend(sub_lines)
        return nested
    if isinstance(item, Mapping):
        return [f"{pad}- {{}}"]
    if isinstance(item, list):
        return [f"{pad}- []"]
    text = plain_scalar(item)
    return None if text is None else [f"{pad}- {text}"]


def helpers_tpl(prefix: str) -> str:
    """_helpers.tpl: name, fullname, chart, selectorLabels and labels, named ``<prefix>.*``."""
    return f"""\
{{{{/* Chart name, at most 63 characters. */}}}}
{{{{- define "{prefix}.name" -}}}}
{{{{- .Chart.Name | trunc 63 | trimSuffix "-" }}}}
{{{{- end }}}}

{{{{/* Fully qualified app name: the release name, plus the chart name unless it holds it. */}}}}
{{{{- define "{prefix}.fullname" -}}}}
{{{{- if contains .Chart.Name .Release.Name }}}}
{{{{- .Release.Name | trunc 63 | trimSuffix "-" }}}}
{{{{- else }}}}
{{{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}}}
{{{{- end }}}}
{{{{- end }}}}

{{{{/* Chart name and version for the helm.sh/chart label. */}}}}
{{{{- define "{prefix}.chart" -}}}}
{{{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}}}
{{{{- end }}}}

{{{{/* Selector labels. */}}}}
{{{{- define "{prefix}.selectorLabels" -}}}}
app.kubernetes.io/name: {{{{ include "{prefix}.name" . | quote }}}}
app.kubernetes.io/instance: {{{{ .Release.Name | quote }}}}
{{{{- end }}}}

{{{{/* Common labels, on every object. */}}}}
{{{{- define "{prefix}.labels" -}}}}
helm.sh/chart: {{{{ include "{prefix}.chart" . | quote }}}}
{{{{ include "{prefix}.selectorLabels" . }}}}
app.kubernetes.io/version: {{{{ .Chart.AppVersion | quote }}}}
app.kubernetes.io/managed-by: {{{{ .Release.Service | quote }}}}
{{{{- end }}}}
"""


def notes_txt(template: Template, context: Context, resources: Sequence[Resource]) -> str:
    """NOTES.txt: what was installed; literal text escaped so Helm prints it verbatim."""
    lines = [
        "{{ .Chart.Name }} {{ .Chart.Version }} is installed as release {{ .Release.Name }} "
        "in namespace {{ .Release.Namespace }}.",
        "",
        escape_text(
            f"Generated by helmforge from template {template.name} {template.version} for "
            f"{context.product}/{context.customer}/{context.environment}/{context.instance} "
            f"(version {context.version})."
        ),
        "",
        "Objects:",
    ]
    lines.extend(escape_text(f"  - {resource.kind} ({resource.id})") for resource in resources)
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    text = text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    if not text:
        return ""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN = frozenset("\\`*_[]|~!#")
_NUMBERED = re.compile(r"\d+[.)]")


def markdown_text(text: str) -> str:
    """Creator text as one line of Markdown that renders as that text, never as markup.

    Registries (Harbor, Artifact Hub) render chart READMEs: HTML from a description would
    become part of their page. ``&``, ``<`` and ``>`` become entities; Markdown's emphasis,
    code, link, table and heading characters are backslash-escaped, as is a leading list mark.
    """
    flat = text.replace("\r", " ").replace("\n", " ")
    out = "".join(_HTML.get(char) or (f"\\{char}" if char in _MARKDOWN else char) for char in flat)
    if out[:1] in ("-", "+"):
        return f"\\{out}"
    numbered = _NUMBERED.match(out)  # "1. " or "1) " would start an ordered list
    return f"{out[: numbered.end() - 1]}\\{out[numbered.end() - 1 :]}" if numbered else out


def _type_text(schema: Mapping[str, Any]) -> str:
    kinds: list[str] = []
    for option in [schema, *(schema.get("oneOf") or ())]:
        kind = option.get("type") if isinstance(option, Mapping) else None
        for name in [kind] if isinstance(kind, str) else kind or ():
            if isinstance(name, str) and name != "null" and name not in kinds:
                kinds.append(name)
    return " or ".join(kinds) or "any"


def readme_md(
    template: Template,
    context: Context,
    values: Mapping[str, Any],
    *,
    types: Mapping[str, Mapping[str, Any]],
    version: str,
) -> str:
    """README.md: what the chart is, where it came from, and a table of its values."""
    lines = [
        f"# {context.chart_name}",
        "",
        markdown_text(template.description),
        "",
        f"Chart version `{version}`, app version `{context.version}`, generated by helmforge from "
        f"template `{template.name}` `{template.version}`.",
        "",
        "## Values",
        "",
        "| Key | Type | Default | Description |",
        "| --- | --- | --- | --- |",
    ]
    rows = template.cache.get(("readme_rows", id(types)))
    if not isinstance(rows, list):
        rows = []
        for dotted, parameter in template.parameters.items():
            description = markdown_text(parameter.description)
            if parameter.required:
                description = f"(required) {description}".strip()
            rows.append(
                (
                    parameter.path,
                    f"| {_cell(dotted)} | {_type_text(types.get(dotted, {}))} | ",
                    f" | {description} |",
                )
            )
        template.cache[("readme_rows", id(types))] = rows
    for path, head, tail in rows:
        node: Any = values
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        lines.append(head + _cell(json.dumps(node, sort_keys=True, ensure_ascii=False)) + tail)
    return "\n".join(lines) + "\n"
