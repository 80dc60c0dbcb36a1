"""Helm charts as OCI artifacts: the Chart.yaml of an archive, the config blob, the manifest and
the digests Helm would push (pure).

- ``build_artifact(archive)`` -> the config, layer and manifest bytes Helm would push
- ``layer_digest_of(manifest)`` -> the chart layer's digest in a manifest read back
"""

from __future__ import annotations

__all__ = [
    "CHART_LAYER_MEDIA_TYPE",
    "CONFIG_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "ChartArtifact",
    "ChartMetadata",
    "build_artifact",
    "build_config",
    "build_manifest",
    "chart_metadata_of",
    "layer_digest_of",
    "read_chart_metadata",
    "sha256_digest",
]

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.oci.chart_versions import tag_for_version
from helmforge.core.oci.references import CHART_NAME
from helmforge.core.versions import parse_semver
from helmforge.core.yaml_codec import load_single

CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
CHART_LAYER_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"

_MAX_CHART_YAML = 1 << 20
_MAX_ARCHIVE_MEMBERS = 10_000
_MAX_UNPACKED = 64 << 20


def sha256_digest(data: bytes) -> str:
    """The OCI digest of ``data``: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class ChartMetadata:
    """What a chart's Chart.yaml says, as Helm's push config needs it."""

    name: str
    version: str
    data: Mapping[str, Any]

    @property
    def app_version(self) -> str | None:
        value = self.data.get("appVersion")
        return None if value is None else str(value)


def read_chart_metadata(archive: bytes, *, source: str = "<archive>") -> ChartMetadata:
    """Read ``<chart>/Chart.yaml`` from a chart .tgz held in memory.

    Raises ``InputError`` when the bytes are no gzip tar, the Chart.yaml is missing, or its
    name or version is invalid; ``TooLargeError`` past the size budgets.
    """
    where = Location(source)
    try:
        raw = _gunzip_limited(archive)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            members = tar.getmembers()
            if len(members) > _MAX_ARCHIVE_MEMBERS:
                raise TooLargeError(
                    f"more than {_MAX_ARCHIVE_MEMBERS} entries in the archive", location=where
                )
            tops = {m.name.split("/", 1)[0] for m in members}
            wanted = [
                m for m in members if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")
            ]
            if not wanted or len(tops) != 1:
                raise InputError(
                    "not a chart archive: expected one top folder holding Chart.yaml",
                    location=where,
                )
            member = wanted[0]
            if not member.isfile() or member.size > _MAX_CHART_YAML:
                raise InputError(f"{member.name} is not a regular file under 1 MiB", location=where)
            handle = tar.extractfile(member)
            assert handle is not None
            text = handle.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise InputError(f"not a gzip-compressed tar archive ({e})", location=where) from None
    return chart_metadata_of(text, source=f"{source}:{member.name}")


def chart_metadata_of(text: bytes, *, source: str) -> ChartMetadata:
    """Read a Chart.yaml's text (``source``: ``ARCHIVE:CHART/Chart.yaml``, for messages)."""
    if len(text) > _MAX_CHART_YAML:
        raise InputError("Chart.yaml is not a regular file under 1 MiB", location=Location(source))
    document = load_single(text, source=source)
    data = document.data
    if not isinstance(data, dict):
        raise InputError("Chart.yaml is not a mapping", location=Location(source))
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not CHART_NAME.match(name) or len(name) > 53:
        raise InputError(
            f"Chart.yaml name {name!r} is invalid: 1-53 lowercase letters, digits and '-'",
            location=Location(source, path="name"),
        )
    if not isinstance(version, str):
        version = str(version)
    parse_semver(version, source=f"{source}: version")
    return ChartMetadata(name=name, version=version, data=data)


def _gunzip_limited(archive: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(archive)) as stream:
        raw = stream.read(_MAX_UNPACKED + 1)
    if len(raw) > _MAX_UNPACKED:
        raise TooLargeError(f"archive unpacks to more than {_MAX_UNPACKED >> 20} MiB")
    return raw


# Helm marshals chart.Metadata in struct order with omitempty; follow it so configs match.
_CONFIG_FIELDS = (
    "name", "home", "sources", "version", "description", "keywords", "maintainers", "icon",
    "apiVersion", "condition", "tags", "appVersion", "deprecated", "annotations",
    "kubeVersion", "dependencies", "type",
)  # fmt: skip


def build_config(metadata: ChartMetadata) -> bytes:
    """The Helm config blob: Chart.yaml as compact JSON, fields in Helm's order."""
    data = metadata.data
    config: dict[str, Any] = {}
    for key in _CONFIG_FIELDS:
        value = data.get(key)
        if value in (None, "", [], {}, False):
            continue
        config[key] = str(value) if key in ("version", "appVersion") else value
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()


def _annotations(metadata: ChartMetadata) -> dict[str, str]:
    data = metadata.data
    result: dict[str, str] = {}
    chart_annotations = data.get("annotations")
    if isinstance(chart_annotations, dict):
        # Provenance (template, context, inputs digest...) travels as the chart's own annotations.
        result.update({str(k): str(v) for k, v in chart_annotations.items()})
    result["org.opencontainers.image.title"] = metadata.name
    result["org.opencontainers.image.version"] = metadata.version
    if data.get("description"):
        result["org.opencontainers.image.description"] = str(data["description"])
    if data.get("home"):
        result["org.opencontainers.image.url"] = str(data["home"])
    sources = data.get("sources")
    if isinstance(sources, list) and sources:
        result["org.opencontainers.image.source"] = str(sources[0])
    maintainers = data.get("maintainers")
    if isinstance(maintainers, list) and maintainers:
        authors = []
        for person in maintainers:
            if isinstance(person, dict) and person.get("name"):
                email = person.get("email")
                authors.append(f"{person['name']} ({email})" if email else str(person["name"]))
        if authors:
            result["org.opencontainers.image.authors"] = ", ".join(authors)
    return dict(sorted(result.items()))


@dataclass(frozen=True, slots=True)
class ChartArtifact:
    """One chart ready to push: its blobs, its manifest and where they go."""

    metadata: ChartMetadata
    archive: bytes
    config: bytes
    manifest: bytes
    layer_digest: str
    config_digest: str
    manifest_digest: str
    tag: str = field(default="")

    @property
    def blobs(self) -> tuple[tuple[str, bytes], ...]:
        """(digest, bytes) of every blob, in the order they must be uploaded."""
        return ((self.config_digest, self.config), (self.layer_digest, self.archive))


def build_manifest(metadata: ChartMetadata, *, config: bytes, archive: bytes) -> bytes:
    """The OCI image manifest Helm pushes, without a timestamp so it is reproducible."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": sha256_digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": CHART_LAYER_MEDIA_TYPE,
                "digest": sha256_digest(archive),
                "size": len(archive),
            }
        ],
        "annotations": _annotations(metadata),
    }
    return json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode()


def build_artifact(
    archive: bytes, *, source: str = "<archive>", chart_yaml: tuple[str, bytes] | None = None
) -> ChartArtifact:
    """Everything needed to push a chart .tgz: config, manifest, digests and tag.

    ``chart_yaml`` is the archive's ``(CHART/Chart.yaml, text)`` when the caller has read the
    archive already (with its entry checks: one top folder), so it is not unpacked twice.
    """
    if chart_yaml is None:
        metadata = read_chart_metadata(archive, source=source)
    else:
        metadata = chart_metadata_of(chart_yaml[1], source=f"{source}:{chart_yaml[0]}")
    config = build_config(metadata)
    manifest = build_manifest(metadata, config=config, archive=archive)
    return ChartArtifact(
        metadata=metadata,
        archive=archive,
        config=config,
        manifest=manifest,
        layer_digest=sha256_digest(archive),
        config_digest=sha256_digest(config),
        manifest_digest=sha256_digest(manifest),
        tag=tag_for_version(metadata.version),
    )


def layer_digest_of(manifest: Mapping[str, Any]) -> str | None:
    """The digest of the chart layer in a manifest read back, or ``None`` if there is none."""
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        return None
    for layer in layers:
        if isinstance(layer, dict) and layer.get("mediaType") == CHART_LAYER_MEDIA_TYPE:
            digest = layer.get("digest")
            return digest if isinstance(digest, str) else None
    return None
