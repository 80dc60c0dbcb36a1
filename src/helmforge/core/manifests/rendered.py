"""The objects of a manifest Helm rendered, one text per object, for review (pure).

Helm prints a release as YAML documents separated by ``---``, each after a ``# Source:``
comment naming its template. ``objects_of_manifest`` keeps each document's text as Helm
printed it (the comment included) and keys it by ``KIND/NAMESPACE/NAME`` (``KIND/NAME`` for
an object that names no namespace), which is how a reviewer and Argo CD tell objects apart.
"""

from __future__ import annotations

__all__ = ["objects_of_manifest"]

import re
from collections.abc import Mapping

from helmforge.core.yaml_codec import load_single

_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (\S+)", re.MULTILINE)


def _key(data: Mapping[str, object]) -> str:
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    parts = [str(data.get("kind") or "?")]
    if metadata.get("namespace"):
        parts.append(str(metadata["namespace"]))
    parts.append(str(metadata.get("name") or "?"))
    return "/".join(parts)


def objects_of_manifest(manifest: str, *, source: str = "manifest") -> dict[str, str]:
    """Each object of ``manifest`` by ``KIND/NAMESPACE/NAME``, as the text Helm printed (one
    trailing newline). A second object under the same key gets ``#2``, ``#3``…; empty
    documents are left out. ``InputError`` when a document is not YAML (named by its
    ``# Source:`` template)."""
    objects: dict[str, str] = {}
    for document in _SEPARATOR.split(manifest):
        text = document.strip("\n")
        if not text.strip():
            continue
        origin = _SOURCE.search(text)
        data = load_single(text, source=origin.group(1) if origin else source).data
        if not isinstance(data, Mapping):
            continue
        key = _key(data)
        unique, count = key, 1
        while unique in objects:
            count += 1
            unique = f"{key}#{count}"
        objects[unique] = text + "\n"
    return objects
