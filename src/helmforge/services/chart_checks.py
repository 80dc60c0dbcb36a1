"""Lint a chart folder or .tgz: helmforge's own checks, then real Helm lint when installed.

helmforge's checks: Chart.yaml reads as a v2 chart with a name and a SemVer version,
values.yaml reads as a mapping (with helmforge's strict YAML reader), values.schema.json is
JSON Schema with only internal references, values.yaml validates against it, and no object
in templates/ or crds/ uses an apiVersion Kubernetes removed (``removed_apis``) by the
chart's lowest ``kubeVersion``, or by the newest Kubernetes version helmforge has schemas of.
"""

from __future__ import annotations

__all__ = ["LintReport", "lint_chart"]

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helmforge.adapters.archives import read_chart
from helmforge.adapters.helm import HelmLintResult, helm_lint
from helmforge.adapters.kubernetes_schemas import available_kubernetes_versions
from helmforge.core.errors import HelmforgeError
from helmforge.core.schemas.patterns import with_linear_patterns
from helmforge.core.schemas.references import schema_structure_problems
from helmforge.core.templates.removed_apis import removed_api, removed_api_message
from helmforge.core.versions import is_semver
from helmforge.core.yaml_codec import load_single

MAX_ARCHIVE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LintReport:
    """helmforge's problems (each names file and path) and Helm's verdict."""

    chart: Path
    problems: tuple[str, ...]
    helm: HelmLintResult

    @property
    def ok(self) -> bool:
        return not self.problems and not self.helm.errors


def _check_metadata(files: Mapping[str, bytes], problems: list[str]) -> None:
    if "Chart.yaml" not in files:
        problems.append("Chart.yaml: missing; every chart needs one")
        return
    metadata = load_single(files["Chart.yaml"], source="Chart.yaml").data
    if not isinstance(metadata, dict):
        problems.append("Chart.yaml: must be a mapping")
        return
    if metadata.get("apiVersion") != "v2":
        problems.append(f"Chart.yaml: apiVersion {metadata.get('apiVersion')!r} should be 'v2'")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        problems.append("Chart.yaml: name is required (a string)")
    version = metadata.get("version")
    if not isinstance(version, str) or not is_semver(version):
        problems.append(f"Chart.yaml: version {version!r} is not SemVer (such as 1.2.3)")


def _check_values(files: Mapping[str, bytes], problems: list[str]) -> None:
    values: Any = {}
    if "values.yaml" in files:
        values = load_single(files["values.yaml"], source="values.yaml").data or {}
        if not isinstance(values, dict):
            problems.append("values.yaml: must be a mapping of values")
            return
    if "values.schema.json" not in files:
        return
    try:
        schema = json.loads(files["values.schema.json"])
    except ValueError as error:
        problems.append(f"values.schema.json: not valid JSON ({error})")
        return
    except RecursionError:  # the json module's own answer to nesting past its stack
        problems.append("values.schema.json: #: nesting too deep to read")
        return
    structure = schema_structure_problems(schema)
    if structure:
        problems.extend(f"values.schema.json: {problem}" for problem in structure)
        return
    import jsonschema

    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft7Validator
    )
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as error:
        problems.append(f"values.schema.json: not a valid JSON schema: {error.message}")
        return
    violations = with_linear_patterns(validator_class)(schema).iter_errors(values)
    for violation in sorted(violations, key=lambda item: [str(part) for part in item.path]):
        where = ".".join(str(part) for part in violation.absolute_path) or "(top)"
        problems.append(f"values.yaml: {where}: {violation.message}")


_TOP_FIELD = re.compile(r"^(apiVersion|kind):[ \t]*[\"']?([A-Za-z0-9./-]+)[\"']?[ \t]*$", re.M)
_DOCUMENT_START = re.compile(r"^---", re.M)
_KUBE_VERSION = re.compile(r">=?\s*v?(\d+\.\d+)")


def _check_removed_apis(files: Mapping[str, bytes], problems: list[str]) -> None:
    target = available_kubernetes_versions()[-1]
    subject = f"the newest Kubernetes helmforge knows is {target}"
    if "Chart.yaml" in files:
        metadata = load_single(files["Chart.yaml"], source="Chart.yaml").data
        kube = metadata.get("kubeVersion") if isinstance(metadata, dict) else None
        lowest = _KUBE_VERSION.search(kube) if isinstance(kube, str) else None
        if lowest:
            target, subject = lowest[1], f"kubeVersion of Chart.yaml starts at {lowest[1]}"
    for path in sorted(files):
        if not path.startswith(("templates/", "crds/")) or not path.endswith((".yaml", ".yml")):
            continue
        text = files[path].decode("utf-8", errors="replace")
        for document in _DOCUMENT_START.split(text):
            fields = {found[1]: found[2] for found in _TOP_FIELD.finditer(document)}
            removed = removed_api(fields.get("apiVersion", ""), fields.get("kind", ""), target)
            if removed is not None:
                problems.append(f"{path}: {removed_api_message(removed, subject=subject)}")


def lint_chart(chart: Path) -> LintReport:
    """Lint a chart folder or .tgz; returns every problem found and Helm's findings.

    Raises ``InputError`` when the chart cannot be read at all (missing, a hostile archive).
    """
    files = read_chart(chart, max_archive_bytes=MAX_ARCHIVE_BYTES)
    problems: list[str] = []
    for check in (_check_metadata, _check_values, _check_removed_apis):
        try:
            check(files, problems)
        except HelmforgeError as error:
            problems.append(str(error))
    return LintReport(chart=chart, problems=tuple(problems), helm=helm_lint(chart))
