"""Publish chart archives to an OCI registry, idempotently, several at once.

The rule that keeps versions honest: a version's tag, once published, only ever points at
one chart. Pushing the same archive again is a no-op success (``unchanged``); pushing other
content under a published version raises ``ConflictError`` naming both layer digests, even on
registries that would silently move the tag.

Every successful push (pushed or unchanged) is handed to an optional ``PushRecorder`` with
the registry, who and when, so the server can keep the history.
"""

from __future__ import annotations

__all__ = [
    "ChartArchive",
    "PushRecord",
    "PushRecorder",
    "PushResult",
    "check_tag",
    "choose_version",
    "client_for",
    "list_versions",
    "load_archive",
    "publish_archives",
    "push_artifact",
]

import datetime
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from helmforge.adapters.archives import read_chart_entries, read_chart_file
from helmforge.core.access.principals import Principal
from helmforge.core.chart_annotations import CONTENT_DIGEST_ANNOTATION
from helmforge.core.errors import ConflictError, HelmforgeError, InputError, Location
from helmforge.core.oci.artifacts import ChartArtifact, build_artifact, layer_digest_of
from helmforge.core.oci.chart_versions import (
    VersionPolicy,
    resolve_version,
    tag_for_version,
    version_for_tag,
)
from helmforge.core.oci.references import OciReference, Registry, repository_for
from helmforge.core.versions import parse_semver

PushStatus = Literal["pushed", "unchanged", "failed"]

HEAD_THRESHOLD = 256 << 10
"""Blobs at least this big are checked with HEAD before uploading (resume after a crash)."""

if TYPE_CHECKING:
    from helmforge.adapters.oci import RegistryClient


def client_for(
    registry: Registry, *, max_connections: int = 8, deadline: float | None = None
) -> RegistryClient:
    """A client for ``registry`` whose every request is done within ``deadline`` seconds
    (default: the adapter's). The OCI adapter (httpx and its TLS setup) is imported on the
    first publish, not when a server worker starts (about 7 MB per process)."""
    from helmforge.adapters.oci import DEFAULT_DEADLINE, RegistryClient

    return RegistryClient(
        registry,
        max_connections=max_connections,
        deadline=DEFAULT_DEADLINE if deadline is None else deadline,
    )


@dataclass(frozen=True, slots=True)
class ChartArchive:
    """A chart .tgz to publish: where it came from (for messages) and its bytes as they are."""

    source: str
    content: bytes


#: Archives over this are refused before being read (a chart is kilobytes).
MAX_ARCHIVE_BYTES = 64 << 20


def load_archive(path: Path) -> ChartArchive:
    """Read the chart archive at ``path`` for publishing, never past ``MAX_ARCHIVE_BYTES``.

    Raises ``InputError`` for a missing file or one that is not regular (``/dev/zero``, a FIFO)
    and ``TooLargeError`` over the budget; the archive's entries are checked by
    ``publish_archives``.
    """
    return ChartArchive(
        source=str(path), content=read_chart_file(path, max_bytes=MAX_ARCHIVE_BYTES)
    )


@dataclass(frozen=True, slots=True)
class PushResult:
    """What happened to one archive. ``error`` is set exactly when ``status`` is failed."""

    source: str
    chart: str
    version: str
    repository: str
    tag: str
    manifest_digest: str
    layer_digest: str
    status: PushStatus
    error: HelmforgeError | None = None


@dataclass(frozen=True, slots=True)
class PushRecord:
    """One push to keep in the history: what, where, who, when."""

    result: PushResult
    registry: str
    actor: str
    at: datetime.datetime


class PushRecorder(Protocol):
    """Receives every successful push (``pushed`` or ``unchanged``); the server stores them."""

    def record_push(self, record: PushRecord) -> None: ...


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def check_tag(
    client: RegistryClient, reference: OciReference, artifact: ChartArtifact, *, source: str
) -> str | None:
    """What the artifact's tag holds now: ``None`` when free, the manifest digest when it
    already holds this chart; ``ConflictError`` naming both layer digests when it holds another.

    One HEAD answers the usual cases (free, or this very manifest: a re-push). A tag holding
    another manifest is read, as the same chart pushed by Helm or another tool has the same
    layer under a manifest of its own (annotations, a timestamp).
    """
    repository = repository_for(reference, artifact.metadata.name)
    digest = client.manifest_digest(repository, artifact.tag, actions="pull,push")
    if digest is None or digest == artifact.manifest_digest:
        return digest
    existing = client.get_manifest(repository, artifact.tag, actions="pull,push")
    if existing is None:
        return None  # deleted between the two requests: free again
    theirs = layer_digest_of(existing.data)
    if theirs != artifact.layer_digest:
        raise ConflictError(
            f"{repository}:{artifact.tag} is already published with layer "
            f"{theirs or '(no chart)'}; this archive's layer is {artifact.layer_digest}: "
            "publish it as a new version",
            location=Location(source),
        )
    return existing.digest


def push_artifact(
    client: RegistryClient,
    reference: OciReference,
    artifact: ChartArtifact,
    *,
    source: str,
    checked: Callable[[], str | None] | None = None,
) -> PushResult:
    """Push one chart: check the tag, upload missing blobs, then point the tag at it.

    ``checked`` gives the outcome of ``check_tag`` run ahead of time (else it runs here).
    Raises ``ConflictError`` when the tag holds other content, and what the client raises.
    """
    repository = repository_for(reference, artifact.metadata.name)
    tag = artifact.tag
    held = checked() if checked else check_tag(client, reference, artifact, source=source)
    status: PushStatus = "pushed"
    if held is not None:
        status, manifest_digest = "unchanged", held
    else:
        # Blobs first: the tag only ever points at a manifest whose blobs are all there.
        # A chart's blobs embed its version, so with the tag absent they exist only after an
        # interrupted push: a HEAD (one round trip) pays off for large blobs alone.
        for digest, data in artifact.blobs:
            client.push_blob(repository, digest, data, check_exists=len(data) >= HEAD_THRESHOLD)
        manifest_digest = client.put_manifest(repository, tag, artifact.manifest)
    return PushResult(
        source=source,
        chart=artifact.metadata.name,
        version=artifact.metadata.version,
        repository=repository,
        tag=tag,
        manifest_digest=manifest_digest,
        layer_digest=artifact.layer_digest,
        status=status,
    )


def _prepare(
    archives: Sequence[ChartArchive],
    reference: OciReference,
    *,
    ready: Callable[[ChartArchive, ChartArtifact], None] | None = None,
) -> list[tuple[ChartArchive, ChartArtifact]]:
    """Read every archive before anything is pushed; one invalid archive fails the whole call.

    Each archive passes the same entry checks as ``lint`` (no ``..``, links, devices, FIFOs,
    duplicates, bombs) before it can be published. ``ready`` is told of each distinct archive
    as soon as it has passed them (its tag can be read while the others are checked).
    """
    prepared: list[tuple[ChartArchive, ChartArtifact]] = []
    seen: dict[tuple[str, str], ChartArtifact] = {}
    problems: list[HelmforgeError] = []
    for archive in archives:
        try:
            top, files = read_chart_entries(archive.content, source=archive.source)
            if "Chart.yaml" not in files:
                raise InputError(
                    "not a chart archive: expected one top folder holding Chart.yaml",
                    location=Location(archive.source),
                )
            artifact = build_artifact(
                archive.content,
                source=archive.source,
                chart_yaml=(f"{top}/Chart.yaml", files["Chart.yaml"]),
            )
        except InputError as e:
            problems.append(e)
            continue
        key = (repository_for(reference, artifact.metadata.name), artifact.tag)
        earlier = seen.get(key)
        if earlier is not None:
            if earlier.layer_digest != artifact.layer_digest:
                problems.append(
                    InputError(
                        f"{key[0]}:{key[1]} is given twice with different content "
                        f"({earlier.layer_digest} and {artifact.layer_digest})",
                        location=Location(archive.source),
                    )
                )
            continue
        seen[key] = artifact
        prepared.append((archive, artifact))
        if ready is not None:
            ready(archive, artifact)
    if problems:
        if len(problems) == 1:
            raise problems[0]
        raise InputError(
            f"{len(problems)} archives are invalid: " + "; ".join(str(p) for p in problems),
            problems=tuple(problems),
        )
    return prepared


class _Once:
    """A tag check run once by whichever thread comes first; the others get its outcome."""

    def __init__(self, check: Callable[[], str | None]) -> None:
        self._check = check
        self._lock = threading.Lock()
        self._done = False
        self._value: str | None = None
        self._error: HelmforgeError | None = None

    def run(self) -> None:
        with self._lock:
            if self._done:
                return
            try:
                self._value = self._check()
            except HelmforgeError as e:
                self._error = e
            self._done = True

    def __call__(self) -> str | None:
        self.run()
        if self._error is not None:
            raise self._error
        return self._value


def publish_archives(
    archives: Sequence[ChartArchive],
    registry: Registry,
    *,
    actor: Principal,
    recorder: PushRecorder | None = None,
    clock: Callable[[], datetime.datetime] = _utc_now,
    workers: int = 4,
    client: RegistryClient | None = None,
) -> list[PushResult]:
    """Push ``archives`` to ``registry`` (its url's PATH), ``workers`` at a time.

    ``workers // 2`` more threads check the tags ahead of the pushes, starting while the
    archives are still being read; the connection pool holds ``workers + workers // 2``
    connections (pass a ``client`` sized alike).

    Returns one result per distinct archive, in input order; a failure of one archive
    (conflict, denied, registry down) is its result's ``error`` and does not stop the others.
    Raises ``InputError`` before pushing anything when an archive is not a valid chart.
    """
    reference = registry.reference
    own_client = client is None
    checkers = max(1, workers // 2)
    active = client or client_for(registry, max_connections=max(workers, 1) + checkers)

    def one(
        item: tuple[ChartArchive, ChartArtifact],
        checked: Callable[[], str | None] | None = None,
    ) -> PushResult:
        archive, artifact = item
        try:
            result = push_artifact(
                active, reference, artifact, source=archive.source, checked=checked
            )
        except HelmforgeError as e:
            return PushResult(
                source=archive.source,
                chart=artifact.metadata.name,
                version=artifact.metadata.version,
                repository=repository_for(reference, artifact.metadata.name),
                tag=artifact.tag,
                manifest_digest=artifact.manifest_digest,
                layer_digest=artifact.layer_digest,
                status="failed",
                error=e,
            )
        if recorder is not None:
            recorder.record_push(
                PushRecord(result=result, registry=str(reference), actor=actor.name, at=clock())
            )
        return result

    # Tag checks are cheap reads: they run ahead on their own threads, from the moment each
    # archive has passed its checks, so that the push workers' critical path is uploads only
    # (a worker that gets to a tag first checks it itself).
    checks = ThreadPoolExecutor(max_workers=checkers, thread_name_prefix="oci-check")
    ahead: list[_Once] = []

    def check_ahead(archive: ChartArchive, artifact: ChartArtifact) -> None:
        once = _Once(partial(check_tag, active, reference, artifact, source=archive.source))
        ahead.append(once)
        checks.submit(once.run)

    try:
        if len(archives) == 1 or workers <= 1:
            return [one(item) for item in _prepare(archives, reference)]
        prepared = _prepare(archives, reference, ready=check_ahead)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oci-push") as pushes:
            futures = [
                pushes.submit(one, item, once) for item, once in zip(prepared, ahead, strict=True)
            ]
            return [future.result() for future in futures]
    finally:
        checks.shutdown(cancel_futures=True)
        if own_client:
            active.close()


def list_versions(
    registry: Registry, *, repository: str | None = None, client: RegistryClient | None = None
) -> list[str]:
    """The chart versions published in ``repository`` (default: the url's PATH), SemVer order.

    Tags that are no SemVer version are left out; ``_`` in tags reads back as ``+``.
    """
    name = repository if repository is not None else registry.reference.path
    if not name:
        raise InputError(
            "name the chart: oci://HOST[:PORT]/PATH/CHART", location=Location("reference")
        )
    active = client or client_for(registry)
    try:
        tags = active.list_tags(name)
    finally:
        if client is None:
            active.close()
    versions = [v for v in (version_for_tag(t) for t in tags) if v is not None]
    return sorted(versions, key=parse_semver)


def choose_version(
    registry: Registry,
    *,
    chart_name: str,
    policy: VersionPolicy | str,
    explicit: str | None = None,
    app_version: str | None = None,
    content_digest: str | None = None,
    client: RegistryClient | None = None,
) -> str:
    """The version to publish ``chart_name`` under, by the template's policy.

    ``auto`` reads the published versions (tag list) and, for the highest, the manifest's
    ``helmforge.dev/content-digest`` annotation: equal to ``content_digest`` means unchanged
    (same version again, a no-op push), else the next patch. ``app``/``explicit`` need no
    registry call.
    """
    if str(policy) != VersionPolicy.AUTO.value:
        return resolve_version(policy, explicit=explicit, app_version=app_version)
    repository = repository_for(registry.reference, chart_name)
    active = client or client_for(registry)
    try:
        published = list_versions(registry, repository=repository, client=active)
        highest_matches = False
        if published and content_digest:
            manifest = active.get_manifest(repository, tag_for_version(published[-1]))
            annotations = manifest.data.get("annotations") if manifest else None
            highest_matches = isinstance(annotations, dict) and (
                annotations.get(CONTENT_DIGEST_ANNOTATION) == content_digest
            )
    finally:
        if client is None:
            active.close()
    return resolve_version(VersionPolicy.AUTO, published=published, highest_matches=highest_matches)
