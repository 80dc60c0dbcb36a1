"""Built-in Kubernetes schemas, read from the files the ``kubernetes-validate`` package ships.

Each version folder ``kubernetes-json-schema/v1.NN.0-local-strict/`` holds ``_definitions.json``
(every definition with internal ``#/$defs/`` references, ``additionalProperties: false``).
One ``SchemaSet`` is built per version and cached for the life of the process.
"""

from __future__ import annotations

__all__ = ["available_kubernetes_versions", "load_schema_set"]

import functools
import importlib.util
import json
import re
from pathlib import Path

from helmforge.core.errors import ExternalServiceError, InputError, Location
from helmforge.core.schemas.kubernetes import SchemaSet

_FOLDER = re.compile(r"v1\.(\d+)\.0-local-strict\Z")
_VERSION = re.compile(r"v?1\.(\d+)(?:\.0)?\Z")


@functools.cache
def _schema_root() -> Path:
    # find_spec locates the package without executing it (its import is slow and not needed).
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ExternalServiceError(
            "the kubernetes-validate package is not installed; install helmforge's dependencies "
            "(pip install kubernetes-validate)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def available_kubernetes_versions() -> list[str]:
    """The Kubernetes versions with built-in schemas, as ``1.NN``, oldest first."""
    minors = sorted(
        int(match.group(1))
        for entry in _schema_root().iterdir()
        if (match := _FOLDER.match(entry.name)) and (entry / "_definitions.json").is_file()
    )
    return [f"1.{minor}" for minor in minors]


def load_schema_set(kubernetes_version: str, *, location: Location | None = None) -> SchemaSet:
    """The built-in schemas of ``kubernetes_version`` (``"1.31"``, ``"1.31.0"`` or ``"v1.31"``).

    Raises ``InputError`` naming the available versions when there are none for this one, and
    ``ExternalServiceError`` when the package's files cannot be read.
    """
    match = _VERSION.match(kubernetes_version.strip())
    if match is None:
        raise InputError(
            f"kubernetes version {kubernetes_version!r} is not of the form 1.NN; "
            f"available: {', '.join(available_kubernetes_versions())}",
            location=location,
        )
    try:
        return _load(int(match.group(1)))
    except InputError as error:
        if location is None:
            raise
        raise InputError(error.message, location=location) from error


@functools.cache
def _load(minor: int) -> SchemaSet:
    path = _schema_root() / f"v1.{minor}.0-local-strict" / "_definitions.json"
    if not path.is_file():
        raise InputError(
            f"no built-in schemas for Kubernetes 1.{minor}; "
            f"available: {', '.join(available_kubernetes_versions())}"
        )
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ExternalServiceError(
            f"cannot read Kubernetes schemas from {path}: {error}"
        ) from error
    definitions = document.get("$defs") if isinstance(document, dict) else None
    if not isinstance(definitions, dict):
        raise ExternalServiceError(f"{path} has no $defs: the kubernetes-validate files changed")
    return SchemaSet(kubernetes_version=f"1.{minor}", definitions=definitions)
