"""Publishing: idempotent concurrent pushes, conflicts, crashes, and Helm as the oracle."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import socket
import threading
from pathlib import Path

import helm_sdkpy
import pytest

from helmforge.adapters.oci import RegistryClient, RetryPolicy
from helmforge.core.access.principals import local_operator
from helmforge.core.chart_annotations import CONTENT_DIGEST_ANNOTATION
from helmforge.core.errors import ConflictError, InputError, PermissionDeniedError
from helmforge.core.oci.artifacts import (
    CHART_LAYER_MEDIA_TYPE,
    CONFIG_MEDIA_TYPE,
    build_artifact,
    sha256_digest,
)
from helmforge.core.oci.references import Registry
from helmforge.core.secrets import Secret
from helmforge.services.publishing import (
    ChartArchive,
    PushRecord,
    choose_version,
    list_versions,
    publish_archives,
)
from tests.support.helm import assert_helm_lints
from tests.support.oci_charts import make_chart
from tests.support.registry import (
    CANARY_PASSWORD,
    ROBOT,
    USERS,
    Fault,
    FaultProxy,
    RegistryServer,
    TokenIssuer,
    unique_path,
)
from tests.support.servers import UPPER_BOUND

ALICE = local_operator("alice")
OPERATOR = local_operator("ci")

pytestmark = [pytest.mark.registry]

FAST = RetryPolicy(attempts=6, base_delay=0.1, max_delay=1.0)
WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


class Recorder:
    def __init__(self) -> None:
        self.records: list[PushRecord] = []
        self._lock = threading.Lock()

    def record_push(self, record: PushRecord) -> None:
        with self._lock:
            self.records.append(record)


def archives(count: int, *, name: str = "demo", payload: str = "") -> list[ChartArchive]:
    return [
        ChartArchive(f"{name}-1.0.{i}.tgz", make_chart(name, f"1.0.{i}", payload=payload))
        for i in range(count)
    ]


def test_publish_is_idempotent_and_concurrent(private_registry: RegistryServer) -> None:
    registry = Registry(f"oci://{private_registry.authority}/charts", plain_http=True)
    recorder = Recorder()
    given = [*archives(6), ChartArchive("other.tgz", make_chart("other", "2.0.0+build.1"))]
    with RegistryClient(registry, retry=FAST) as client:
        results = publish_archives(
            given, registry, actor=ALICE, recorder=recorder, client=client, clock=lambda: WHEN
        )
        assert [r.status for r in results] == ["pushed"] * 7
        assert results[-1].tag == "2.0.0_build.1"
        assert results[-1].repository == "charts/other"
        assert client.stats["blobs_uploaded"] == 14
        again = publish_archives(given, registry, actor=ALICE, recorder=recorder, client=client)
        assert [r.status for r in again] == ["unchanged"] * 7
        assert [r.manifest_digest for r in again] == [r.manifest_digest for r in results]
        assert client.stats["blobs_uploaded"] == 14  # nothing uploaded the second time
        assert client.stats["manifests_pushed"] == 7
    assert len(recorder.records) == 14
    record = recorder.records[0]
    assert record.actor == "alice"
    assert record.registry == f"oci://{private_registry.authority}/charts"
    assert {r.at for r in recorder.records[:7]} == {WHEN}
    assert list_versions(registry, repository="charts/demo") == [f"1.0.{i}" for i in range(6)]
    assert list_versions(
        Registry(f"oci://{private_registry.authority}/charts/other", plain_http=True)
    ) == ["2.0.0+build.1"]


def test_many_archives_share_the_pool_and_make_no_extra_round_trips(
    private_registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushing many archives in one call opens the pool's connections once (never one per
    archive) and sends per archive one tag check, two blob uploads (POST + PUT) and the
    manifest; an unchanged re-push sends the tag checks alone."""
    opened: list[object] = []
    connect = socket.create_connection

    def counting(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        opened.append(address)
        return connect(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", counting)
    registry = Registry(f"oci://{private_registry.authority}/{unique_path()}", plain_http=True)
    given = archives(24, name="many")
    with RegistryClient(registry, retry=FAST, max_connections=4 + 2) as client:
        first = publish_archives(given, registry, client=client, workers=4, actor=OPERATOR)
        assert [r.status for r in first] == ["pushed"] * 24
        assert client.stats["requests"] == 24 * 6
        again = publish_archives(given, registry, client=client, workers=4, actor=OPERATOR)
        assert [r.status for r in again] == ["unchanged"] * 24
        assert client.stats["requests"] == 24 * 6 + 24
    assert 1 <= len(opened) <= 6


def test_an_unchanged_repush_sends_one_manifest_head_per_archive(
    private_registry: RegistryServer, fault_proxy: FaultProxy
) -> None:
    # A re-push of published charts (what CI runs over and over) needs no manifest body: the
    # registry's digest of the tag says it holds this very manifest.
    registry = Registry(f"oci://{fault_proxy.authority}/{unique_path()}", plain_http=True)
    given = archives(5, name="heads")
    assert {r.status for r in publish_archives(given, registry, actor=OPERATOR)} == {"pushed"}
    fault_proxy.requests.clear()
    again = publish_archives(given, registry, actor=OPERATOR, workers=4)
    assert [r.status for r in again] == ["unchanged"] * 5
    assert sorted(fault_proxy.requests) == sorted(
        ("HEAD", f"/v2/{r.repository}/manifests/{r.tag}") for r in again
    )


def test_an_invalid_archive_stops_every_push_though_tags_are_read_ahead(
    private_registry: RegistryServer, fault_proxy: FaultProxy
) -> None:
    # Tags are checked while the archives are still being read; nothing is written until all
    # of them have passed.
    registry = Registry(f"oci://{fault_proxy.authority}/{unique_path()}", plain_http=True)
    given = [*archives(6, name="ahead"), ChartArchive("broken.tgz", b"not a chart")]
    with pytest.raises(InputError, match=r"broken\.tgz"):
        publish_archives(given, registry, actor=OPERATOR, workers=4)
    assert {method for method, _ in fault_proxy.requests} <= {"HEAD"}


def test_conflicting_repush_is_refused_with_both_digests(private_registry: RegistryServer) -> None:
    # RELIABILITY row 20: the registry would move the tag; helmforge refuses.
    registry = Registry(f"oci://{private_registry.authority}/charts", plain_http=True)
    original = make_chart(payload="one")
    changed = make_chart(payload="two")
    (first,) = publish_archives([ChartArchive("a.tgz", original)], registry, actor=OPERATOR)
    assert first.status == "pushed"
    (second,) = publish_archives([ChartArchive("b.tgz", changed)], registry, actor=OPERATOR)
    assert second.status == "failed"
    assert isinstance(second.error, ConflictError)
    assert sha256_digest(original) in str(second.error)
    assert sha256_digest(changed) in str(second.error)
    assert "b.tgz" in str(second.error)
    with RegistryClient(registry) as client:
        manifest = client.get_manifest("charts/demo", "1.0.0")
    assert manifest is not None
    assert manifest.digest == first.manifest_digest


def test_invalid_archives_stop_everything_before_any_push(
    private_registry: RegistryServer,
) -> None:
    registry = Registry(f"oci://{private_registry.authority}/charts", plain_http=True)
    bad = [
        ChartArchive("good.tgz", make_chart()),
        ChartArchive("broken.tgz", b"not a chart"),
        ChartArchive("twice.tgz", make_chart(payload="different")),
    ]
    with pytest.raises(InputError) as caught:
        publish_archives(bad, registry, actor=OPERATOR)
    assert "broken.tgz" in str(caught.value)
    assert "given twice" in str(caught.value)
    assert list_versions(registry, repository="charts/demo") == []


def test_registry_killed_mid_push_and_restarted(
    private_registry: RegistryServer, fault_proxy: FaultProxy
) -> None:
    # RELIABILITY row 18: crash between blobs; every tag ends complete.
    restarted = threading.Event()

    def restart() -> None:
        private_registry.start()
        restarted.set()

    def crash() -> None:
        private_registry.kill()
        threading.Thread(target=restart, daemon=True).start()

    def pause(_seconds: float) -> None:
        # A retry waits for the restart, however long this machine takes for it.
        assert restarted.wait(UPPER_BOUND), "the registry did not come back"

    fault_proxy.add(Fault("PUT", r"/blobs/uploads/", "hook", times=1, hook=crash))
    registry = Registry(f"oci://{fault_proxy.authority}/charts", plain_http=True)
    given = archives(8)
    with RegistryClient(registry, retry=FAST, sleep=pause) as client:
        results = publish_archives(given, registry, client=client, workers=4, actor=OPERATOR)
        assert [r.error for r in results] == [None] * 8
        assert client.stats["connection_errors"] >= 1
        for archive, result in zip(given, results, strict=True):
            manifest = client.get_manifest(result.repository, result.tag)
            assert manifest is not None
            assert manifest.digest == result.manifest_digest
            assert client.get_blob(result.repository, result.layer_digest) == archive.content
            artifact = build_artifact(archive.content)
            assert client.get_blob(result.repository, artifact.config_digest) == artifact.config
        # Sessions we knew (a lost PUT) are cancelled; those whose POST answer was lost are
        # unknown to us and left to the registry's upload purging.
        assert client.stats["uploads_cancelled"] == client.stats["uploads_restarted"] >= 1


def test_denied_and_canary_never_leaks(
    token_registry: RegistryServer,
    token_issuer: TokenIssuer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # RELIABILITY rows 22 and 28: denied is reported once; the password is nowhere.
    caplog.set_level(logging.DEBUG)
    canary_user = "robot$readonly+ci"
    USERS[canary_user] = CANARY_PASSWORD
    token_issuer.grants[canary_user] = ["pull"]
    registry = Registry(
        f"oci://{token_registry.authority}/{unique_path()}",
        plain_http=True,
        username=canary_user,
        password=Secret(CANARY_PASSWORD),
    )
    results = publish_archives(archives(2), registry, actor=local_operator(canary_user))
    assert all(isinstance(r.error, PermissionDeniedError) for r in results)
    assert all("denied" in str(r.error) for r in results)
    out = capsys.readouterr()
    texts = [out.out, out.err, caplog.text, repr(registry), repr(results)]
    texts += [str(r.error) for r in results] + [repr(r.error) for r in results]
    texts += [repr(r.error.__cause__) for r in results if r.error]
    for text in texts:
        assert CANARY_PASSWORD not in text
    assert token_issuer.received_usernames.count(canary_user) >= 1


def test_helm_reads_what_we_push_and_pushes_the_same_layer(
    basic_registry: RegistryServer, tmp_path: Path
) -> None:
    path = unique_path()
    registry = Registry(
        f"oci://{basic_registry.authority}/{path}",
        plain_http=True,
        username=ROBOT,
        password=Secret(CANARY_PASSWORD),
    )
    archive = make_chart("oracle", "0.3.0", annotations={"helmforge.dev/template": "web@1"})
    (result,) = publish_archives([ChartArchive("oracle.tgz", archive)], registry, actor=OPERATOR)
    assert result.status == "pushed"
    with RegistryClient(registry) as client:
        manifest = client.get_manifest(result.repository, result.tag)
        assert manifest is not None
        assert manifest.data["config"]["mediaType"] == CONFIG_MEDIA_TYPE
        assert [x["mediaType"] for x in manifest.data["layers"]] == [CHART_LAYER_MEDIA_TYPE]
        assert manifest.data["layers"][0]["digest"] == sha256_digest(archive)
        downloaded = client.get_blob(result.repository, result.layer_digest)
    local = tmp_path / "downloaded.tgz"
    local.write_bytes(downloaded)
    assert_helm_lints(local)

    config = helm_sdkpy.Configuration(
        plain_http=True,
        registry_auth={basic_registry.authority: {"username": ROBOT, "password": CANARY_PASSWORD}},
    )
    shown = asyncio.run(
        helm_sdkpy.Show(config).chart(f"oci://{basic_registry.authority}/{path}/oracle:0.3.0")
    )
    assert "name: oracle" in shown
    assert "version: 0.3.0" in shown

    chart_file = tmp_path / "oracle-0.3.0.tgz"
    chart_file.write_bytes(archive)
    asyncio.run(
        helm_sdkpy.Push(config).run(
            str(chart_file), f"oci://{basic_registry.authority}/{path}-helm", plain_http=True
        )
    )
    with RegistryClient(registry) as client:
        helm_manifest = client.get_manifest(f"{path}-helm/oracle", "0.3.0")
    assert helm_manifest is not None
    assert helm_manifest.data["layers"][0]["digest"] == result.layer_digest
    assert helm_manifest.data["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    # Our config is Helm's config byte for byte: same chart metadata JSON.
    assert (
        helm_manifest.data["config"]["digest"] == json.loads(manifest.content)["config"]["digest"]
    )


def test_republish_after_helm_push_is_unchanged(
    private_registry: RegistryServer, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    archive = make_chart("viahelm", "1.1.0")
    chart_file = tmp_path / "viahelm-1.1.0.tgz"
    chart_file.write_bytes(archive)
    asyncio.run(
        helm_sdkpy.Push(helm_sdkpy.Configuration(plain_http=True)).run(
            str(chart_file), f"oci://{private_registry.authority}/charts", plain_http=True
        )
    )
    # Through the proxy, which records every request: the re-publish only reads.
    registry = Registry(f"oci://{fault_proxy.authority}/charts", plain_http=True)
    (result,) = publish_archives([ChartArchive(str(chart_file), archive)], registry, actor=OPERATOR)
    assert result.status == "unchanged"
    assert fault_proxy.requests
    assert {method for method, _ in fault_proxy.requests} <= {"GET", "HEAD"}


def test_auto_version_policy_reads_the_registry(private_registry: RegistryServer) -> None:
    registry = Registry(f"oci://{private_registry.authority}/charts", plain_http=True)

    def chart(version: str, content: str) -> ChartArchive:
        annotations = {CONTENT_DIGEST_ANNOTATION: content}
        return ChartArchive(version, make_chart("auto", version, annotations=annotations))

    assert choose_version(registry, chart_name="auto", policy="auto", content_digest="c1") == (
        "0.1.0"
    )
    publish_archives([chart("0.1.0", "c1"), chart("0.1.1", "c2")], registry, actor=OPERATOR)
    same = choose_version(registry, chart_name="auto", policy="auto", content_digest="c2")
    changed = choose_version(registry, chart_name="auto", policy="auto", content_digest="c3")
    assert (same, changed) == ("0.1.1", "0.1.2")
    assert choose_version(registry, chart_name="auto", policy="app", app_version="4.5.6") == (
        "4.5.6"
    )
    with pytest.raises(InputError, match="explicit"):
        choose_version(registry, chart_name="auto", policy="explicit")
