"""The GitOps repository layout of DESIGN §6 (pure).

Under the repository's configured ``path`` (default: the root) every instance owns one folder::

    <path>/<product>/<customer>/<environment>/<instance>/values.yaml       operator overrides
    <path>/<product>/<customer>/<environment>/<instance>/application.yaml  Argo CD Application

Each segment is an RFC 1123 label (lower-case letters, digits, ``-``; a letter or digit at both
ends; at most 63 characters), so that a segment can never climb out of its folder (``..``,
``a/b``), never differ from another only by case on a case-insensitive checkout, and the
namespace ``<product>-<customer>-<environment>-<instance>`` is itself a valid label when it fits
in 63 characters.
"""

from __future__ import annotations

__all__ = [
    "APPLICATION_FILE",
    "SEGMENT_NAMES",
    "VALUES_FILE",
    "InstanceId",
    "normalize_base_path",
]

import re
from dataclasses import dataclass

from helmforge.core.errors import InputError, Location

VALUES_FILE = "values.yaml"
APPLICATION_FILE = "application.yaml"
SEGMENT_NAMES = ("product", "customer", "environment", "instance")

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_MAX_LABEL = 63
# A folder of the configured base path: no dot segments, nothing a Git tree entry cannot hold.
_FOLDER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")


def _check_segment(field: str, value: object, source: str) -> str:
    where = Location(source, path=field)
    if not isinstance(value, str) or not value:
        raise InputError(f"{field} must be a non-empty string", location=where)
    if not _LABEL.match(value):
        raise InputError(
            f"{field} {value!r} is not valid: use 1-63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit (an RFC 1123 label)",
            location=where,
        )
    return value


def normalize_base_path(path: str | None, *, source: str = "repository.path") -> str:
    """The repository's base folder as ``a/b`` (``""`` for the root), or ``InputError``.

    ``None``, ``""``, ``"/"`` and ``"."`` mean the root; surrounding slashes are dropped; ``..``,
    ``.``, empty segments (``a//b``) and backslashes are refused, so the base stays inside the
    repository.
    """
    if path is None:
        return ""
    trimmed = path.strip("/")
    if trimmed in ("", "."):
        return ""
    folders = trimmed.split("/")
    for folder in folders:
        if folder in (".", "..") or not _FOLDER.match(folder):
            raise InputError(
                f"path {path!r} is not valid: folder {folder!r} must be letters, digits, '.', "
                "'_' or '-' (no '..', no empty folder, no backslash)",
                location=Location(source),
            )
    return "/".join(folders)


@dataclass(frozen=True, slots=True)
class InstanceId:
    """``product/customer/environment/instance``, each segment validated on construction."""

    product: str
    customer: str
    environment: str
    instance: str

    def __post_init__(self) -> None:
        for field, value in zip(SEGMENT_NAMES, self.segments, strict=True):
            _check_segment(field, value, "instance")

    @classmethod
    def parse(cls, text: str, *, source: str = "instance") -> InstanceId:
        """``p/c/e/i`` as an ``InstanceId``; anything else raises ``InputError`` naming why."""
        parts = text.split("/") if isinstance(text, str) else []
        if len(parts) != len(SEGMENT_NAMES):
            raise InputError(
                f"instance id {text!r} is not valid: expected "
                "product/customer/environment/instance (four segments)",
                location=Location(source),
            )
        for field, value in zip(SEGMENT_NAMES, parts, strict=True):
            _check_segment(field, value, source)
        return cls(*parts)

    @property
    def segments(self) -> tuple[str, str, str, str]:
        return (self.product, self.customer, self.environment, self.instance)

    def __str__(self) -> str:
        return "/".join(self.segments)

    def default_namespace(self) -> str:
        """``<product>-<customer>-<environment>-<instance>``; ``InputError`` past 63 characters
        (a namespace is an RFC 1123 label), saying how long it is."""
        name = "-".join(self.segments)
        if len(name) > _MAX_LABEL:
            raise InputError(
                f"namespace {name!r} is {len(name)} characters; a namespace has at most "
                f"{_MAX_LABEL}: shorten the segments or set the namespace in the template",
                location=Location("instance", path="namespace"),
            )
        return name

    def folder(self, base_path: str = "") -> str:
        """The instance's folder in the repository, below ``base_path`` (already normalized)."""
        base = normalize_base_path(base_path)
        own = "/".join(self.segments)
        return f"{base}/{own}" if base else own

    def values_path(self, base_path: str = "") -> str:
        return f"{self.folder(base_path)}/{VALUES_FILE}"

    def application_path(self, base_path: str = "") -> str:
        return f"{self.folder(base_path)}/{APPLICATION_FILE}"
