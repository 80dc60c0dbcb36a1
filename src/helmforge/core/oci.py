"""Helm charts as OCI artifacts: references, names, tags, manifests, versions (pure).

Everything here is a function of its inputs: the adapter (``adapters/oci.py``) sends what
these functions build, and the publishing service decides with them.

- ``parse_reference("oci://HOST[:PORT]/PATH")`` -> ``OciReference``
- ``repository_for(reference, chart_name)`` -> ``PATH/<chart name>``
- ``tag_for_version("1.2.3+build")`` -> ``1.2.3_build`` (OCI tags refuse ``+``)
- ``build_artifact(archive)`` -> the config, layer and manifest bytes Helm would push
- ``parse_challenge(header)`` -> the ``WWW-Authenticate`` scheme and parameters
- ``resolve_version(policy, ...)`` -> the version the app/auto/explicit policy gives
"""

from __future__ import annotations

__all__ = [
    "CHART_LAYER_MEDIA_TYPE",
    "CONFIG_MEDIA_TYPE",
    "CONTENT_DIGEST_ANNOTATION",
    "MANIFEST_MEDIA_TYPE",
    "Challenge",
    "ChartArtifact",
    "ChartMetadata",
    "OciReference",
    "Registry",
    "SemVer",
    "VersionPolicy",
    "build_artifact",
    "build_config",
    "build_manifest",
    "layer_digest_of",
    "parse_challenge",
    "parse_reference",
    "parse_semver",
    "read_chart_metadata",
    "repository_for",
    "resolve_version",
    "sha256_digest",
    "tag_for_version",
    "version_for_tag",
]

import gzip
import hashlib
import io
import json
import re
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import total_ordering
from typing import Any

from helmforge.core.chart_annotations import CONTENT_DIGEST_ANNOTATION
from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.secrets import Secret
from helmforge.core.yaml_codec import load_single

CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
CHART_LAYER_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"

# The distribution spec's grammar for repository path components and tags.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")
_HOST = re.compile(
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?\Z"
)
_CHART_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_SEMVER = re.compile(
    r"(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    r"(?:-(?P<pre>(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z"
)
_MAX_CHART_YAML = 1 << 20
_MAX_ARCHIVE_MEMBERS = 10_000
_MAX_UNPACKED = 64 << 20


def sha256_digest(data: bytes) -> str:
    """The OCI digest of ``data``: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- references and names -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OciReference:
    """``oci://HOST[:PORT]/PATH``: where charts go; ``path`` may be empty."""

    host: str
    port: int | None
    path: str

    @property
    def authority(self) -> str:
        """``HOST[:PORT]`` as used in URLs and in Helm's registry_auth keys."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"oci://{self.authority}/{self.path}".rstrip("/")


def parse_reference(text: str, *, source: str = "reference") -> OciReference:
    """Read ``oci://HOST[:PORT]/PATH``; raise ``InputError`` saying what a valid one looks like."""
    where = Location(source)
    if not text.startswith("oci://"):
        raise InputError(
            f"{text!r} is not an OCI reference: expected oci://HOST[:PORT]/PATH", location=where
        )
    rest = text[len("oci://") :]
    authority, _, path = rest.partition("/")
    match = _HOST.match(authority)
    if not match or "@" in authority:
        raise InputError(
            f"{authority!r} is not a registry host: expected HOST or HOST:PORT (no user@)",
            location=where,
        )
    port_text = match.group("port")
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        raise InputError(f"port {port} is out of range 1-65535", location=where)
    path = path.strip("/")
    if path:
        for component in path.split("/"):
            if not _COMPONENT.match(component):
                raise InputError(
                    f"repository path component {component!r} is invalid: use lowercase "
                    "letters and digits separated by '.', '_', '__' or '-'",
                    location=where,
                )
    return OciReference(host=match.group("host").lower(), port=port, path=path)


def repository_for(reference: OciReference, chart_name: str) -> str:
    """The repository a chart goes to: ``PATH/<chart name>`` (or the name alone)."""
    if not _CHART_NAME.match(chart_name):
        raise InputError(
            f"chart name {chart_name!r} is invalid: lowercase letters, digits and '-'",
            location=Location(path="name"),
        )
    return f"{reference.path}/{chart_name}" if reference.path else chart_name


def tag_for_version(version: str) -> str:
    """The OCI tag of a chart version: ``+`` becomes ``_`` as Helm does."""
    parse_semver(version)
    tag = version.replace("+", "_")
    if not _TAG.match(tag):
        raise InputError(f"version {version!r} does not make a valid OCI tag")
    return tag


def version_for_tag(tag: str) -> str | None:
    """The chart version a tag stands for, or ``None`` when the tag is no SemVer version."""
    version = tag.replace("_", "+")
    return version if _SEMVER.match(version) else None


# --- semantic versions ------------------------------------------------------------------


@total_ordering
@dataclass(frozen=True, slots=True)
class SemVer:
    """A SemVer 2 version; ordering follows SemVer precedence (build metadata last resort)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        return text + (f"+{self.build}" if self.build else "")

    def _key(self) -> tuple[Any, ...]:
        pre: tuple[tuple[int, int, str], ...] = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        # A release ranks above its prereleases; build metadata only breaks ties for sorting.
        return (self.major, self.minor, self.patch, not self.prerelease, pre, self.build)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() < other._key()

    def next_patch(self) -> SemVer:
        """The next release above this one: a prerelease gives its release, else patch + 1."""
        if self.prerelease:
            return SemVer(self.major, self.minor, self.patch)
        return SemVer(self.major, self.minor, self.patch + 1)


def parse_semver(text: str, *, source: str = "version") -> SemVer:
    """Read a strict SemVer 2 version; ``v1``, ``1.0`` and ``01.2.3`` raise ``InputError``."""
    match = _SEMVER.match(text) if isinstance(text, str) else None
    if not match:
        raise InputError(
            f"{text!r} is not a SemVer version: expected MAJOR.MINOR.PATCH such as 1.2.3, "
            "without a 'v' or leading zeros",
            location=Location(path=source),
        )
    pre = match.group("pre")
    return SemVer(
        int(match.group("major")),
        int(match.group("minor")),
        int(match.group("patch")),
        tuple(pre.split(".")) if pre else (),
        match.group("build") or "",
    )


class VersionPolicy(StrEnum):
    """How a chart version is chosen when publishing."""

    APP = "app"
    AUTO = "auto"
    EXPLICIT = "explicit"


def resolve_version(
    policy: VersionPolicy | str,
    *,
    explicit: str | None = None,
    app_version: str | None = None,
    published: Iterable[str] = (),
    highest_matches: bool = False,
    initial: str = "0.1.0",
) -> str:
    """The chart version ``policy`` gives.

    ``app``: the app version (must be SemVer). ``explicit``: ``explicit``. ``auto``: ``initial``
    when nothing is published, the highest published version when its content equals ours
    (``highest_matches``), else the next patch above it. Tags that are no SemVer are ignored.
    Raises ``InputError`` for an unknown policy or a missing/invalid version.
    """
    try:
        chosen = VersionPolicy(policy)
    except ValueError:
        raise InputError(
            f"version policy {policy!r} is unknown: use app, auto or explicit",
            location=Location(path="versionPolicy"),
        ) from None
    if chosen is VersionPolicy.APP:
        if not app_version:
            raise InputError("policy app needs an appVersion", location=Location(path="appVersion"))
        return str(parse_semver(app_version, source="appVersion"))
    if chosen is VersionPolicy.EXPLICIT:
        if not explicit:
            raise InputError("policy explicit needs a version", location=Location(path="version"))
        return str(parse_semver(explicit))
    versions = [parse_semver(v) for v in published if _SEMVER.match(v)]
    if not versions:
        return str(parse_semver(initial, source="initial"))
    highest = max(versions)
    return str(highest if highest_matches else highest.next_patch())


# --- chart metadata and the artifact ---------------------------------------------------


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
    document = load_single(text, source=f"{source}:{member.name}")
    data = document.data
    if not isinstance(data, dict):
        raise InputError(
            "Chart.yaml is not a mapping", location=Location(f"{source}:{member.name}")
        )
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not _CHART_NAME.match(name) or len(name) > 53:
        raise InputError(
            f"Chart.yaml name {name!r} is invalid: 1-53 lowercase letters, digits and '-'",
            location=Location(f"{source}:{member.name}", path="name"),
        )
    if not isinstance(version, str):
        version = str(version)
    parse_semver(version, source=f"{source}:{member.name}: version")
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


def build_artifact(archive: bytes, *, source: str = "<archive>") -> ChartArtifact:
    """Everything needed to push a chart .tgz: config, manifest, digests and tag."""
    metadata = read_chart_metadata(archive, source=source)
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


# --- authentication challenges and registries -----------------------------------------

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|\Z)')


@dataclass(frozen=True, slots=True)
class Challenge:
    """A ``WWW-Authenticate`` challenge: scheme (lowercase) and its parameters."""

    scheme: str
    params: Mapping[str, str]

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenge(header: str) -> Challenge:
    """Read ``Bearer realm="...",service="...",scope="repository:a/b:pull,push"``.

    Quoted values may hold commas; unknown parameters are kept. An empty or malformed header
    gives scheme ``""`` and what parameters could be read.
    """
    header = header.strip()
    scheme, _, rest = header.partition(" ")
    if "=" in scheme:
        scheme, rest = "", header
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if not match or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[match.group(1).lower()] = value
        position = match.end()
    return Challenge(scheme=scheme.lower(), params=params)


@dataclass(frozen=True, slots=True)
class Registry:
    """A configured registry: where it is, how to trust it, who we are there.

    ``url`` is ``oci://HOST[:PORT]/PATH``; ``ca_pem`` a PEM bundle to trust instead of the
    system store; ``plain_http`` only when asked for (a loopback or lab registry).
    ``password`` is a ``Secret``: it prints as a mask everywhere.
    """

    url: str
    ca_pem: str | None = None
    plain_http: bool = False
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)

    @property
    def reference(self) -> OciReference:
        return parse_reference(self.url, source="registry url")

    @property
    def base_url(self) -> str:
        scheme = "http" if self.plain_http else "https"
        return f"{scheme}://{self.reference.authority}"

    def __post_init__(self) -> None:
        self.reference  # noqa: B018 - validates the url early
        if (self.username is None) != (self.password is None):
            raise InputError(
                "give both a username and a password, or neither",
                location=Location(path="username"),
            )
