"""The template model (DESIGN §3): parameters, layers, resources, bindings and problems.

``helmforge.core.templates.parsing`` parses documents into these types; every other module of
the template domain (checks, layering, values schemas, merges) builds on them.
"""

from __future__ import annotations

__all__ = [
    "API_VERSION",
    "PARAMETER_KEYS",
    "PARAMETER_TYPES",
    "STANDARD_LABELS",
    "Binding",
    "FieldPath",
    "Layer",
    "Migration",
    "Parameter",
    "Problem",
    "Resource",
    "Template",
    "dotted_path",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from helmforge.core.errors import Location
from helmforge.core.yaml_codec import LineMap

API_VERSION = "helmforge.dev/v1"
PARAMETER_KEYS = ("default", "description", "required", "schema", "type")
PARAMETER_TYPES = ("string", "integer", "number", "boolean", "object", "array")
STANDARD_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)
type FieldPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Parameter:
    """One tunable value: ``spec.values.<path>`` with its default and constraints.

    ``default`` may hold ``${ctx.KEY}`` placeholders; ``has_default`` tells an explicit
    ``default: null`` from none at all. ``schema`` is the template's declared JSON schema
    fragment, merged over what the bound Kubernetes fields say.
    """

    path: tuple[str, ...]
    default: Any
    has_default: bool
    description: str
    required: bool
    schema: Mapping[str, Any]
    type: str | None
    line: int | None

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Layer:
    """Context-dependent defaults: applied when every ``when`` key matches, in order."""

    index: int
    when: Mapping[str, tuple[str, ...]]
    values: Mapping[str, Any]
    line: int | None


@dataclass(frozen=True, slots=True)
class Migration:
    """One entry of ``spec.migrations``: how overrides written for an older version of the
    template (``from``: a SemVer range of that version) become overrides of this one.
    ``rename`` maps old dotted paths to new ones, ``retype`` dotted paths (after renames) to
    the type their values must take (``integer``, ``number``, ``string``, ``boolean``)."""

    index: int
    from_range: str
    rename: tuple[tuple[str, str], ...]
    retype: tuple[tuple[str, str], ...]
    line: int | None


@dataclass(frozen=True, slots=True)
class Resource:
    """One Kubernetes object of the chart; ``manifest`` still holds its placeholders."""

    id: str
    when: Mapping[str, tuple[str, ...]]
    manifest: Mapping[str, Any]
    api_version: str
    kind: str
    name: str
    line: int | None
    index: int


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a ``${values.X}`` sits: resource, field path, and whether it is the whole scalar."""

    parameter: str
    resource_id: str
    path: FieldPath
    whole: bool
    line: int | None


@dataclass(frozen=True, slots=True)
class Problem:
    """A finding of ``validate_template``: an error, or a warning that does not block."""

    message: str
    location: Location
    severity: Literal["error", "warning"] = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = str(self.location)
        prefix = f"{self.severity}: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{self.message}" if where else prefix + self.message


@dataclass(frozen=True, eq=False)
class Template:
    """A parsed template; compare by identity, so engines may cache per template object.

    ``parameters`` maps each dotted parameter path to its ``Parameter`` in declaration order;
    ``groups`` lists the dotted paths of the mappings that hold parameters (they reject
    unknown keys in values.schema.json).
    """

    name: str
    version: str
    description: str
    kubernetes_version: str
    parameters: Mapping[str, Parameter]
    groups: tuple[str, ...]
    layers: tuple[Layer, ...]
    resources: tuple[Resource, ...]
    bindings: tuple[Binding, ...]
    source: str
    raw: Mapping[str, Any]
    lines: LineMap = field(repr=False)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    chart_version_policy: str = "app"
    """``spec.chartVersionPolicy``: ``app`` (chart version = app version, unless a build names
    one) or ``auto`` (publishing picks the next patch above the highest published version of
    the chart when its content changed, and reuses that version when it did not)."""
    migrations: tuple[Migration, ...] = ()
    """``spec.migrations``, in order (``core.templates.migrations`` reads and applies them)."""

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes get the template without the caches (validators, schema sets):
        # each process rebuilds what it needs.
        state = dict(self.__dict__)
        state["cache"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)

    def where(self, path: FieldPath) -> Location:
        """The location (source, line, dotted path) of a path inside the template document."""
        return Location(self.source, self.lines.line_of(path), dotted_path(path) or None)


def dotted_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out
