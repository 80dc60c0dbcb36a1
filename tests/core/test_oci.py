"""The pure OCI layer: references, tags, SemVer, Helm's manifest and config, challenges."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import random
import re
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helmforge.core.errors import InputError, TooLargeError
from helmforge.core.oci.artifacts import (
    CHART_LAYER_MEDIA_TYPE,
    CONFIG_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    build_artifact,
    layer_digest_of,
    read_chart_metadata,
    sha256_digest,
)
from helmforge.core.oci.chart_versions import (
    VersionPolicy,
    resolve_version,
    tag_for_version,
    version_for_tag,
)
from helmforge.core.oci.references import (
    OciReference,
    Registry,
    parse_challenge,
    parse_reference,
    repository_for,
)
from helmforge.core.secrets import Secret
from helmforge.core.versions import parse_semver
from tests.support.oci_charts import make_chart


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci://registry.example.com/charts", OciReference("registry.example.com", None, "charts")),
        ("oci://127.0.0.1:5000/a/b", OciReference("127.0.0.1", 5000, "a/b")),
        ("oci://Harbor.Local:443/proj/", OciReference("harbor.local", 443, "proj")),
        ("oci://quay.io", OciReference("quay.io", None, "")),
        ("oci://[::1]:5000/x", OciReference("[::1]", 5000, "x")),
    ],
)
def test_references_parse(text: str, expected: OciReference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://registry/charts",
        "registry/charts",
        "oci://user@registry/charts",
        "oci://registry:99999/x",
        "oci://registry/Upper",
        "oci://registry/a//b",
        "oci:///charts",
        "oci://registry/-a",
    ],
)
def test_invalid_references_say_what_is_valid(text: str) -> None:
    with pytest.raises(
        InputError, match=r"^reference: .*(expected|is invalid: use|is out of range 1-65535)"
    ):
        parse_reference(text)


def test_repository_is_path_slash_chart_name() -> None:
    assert repository_for(parse_reference("oci://h/a/b"), "demo") == "a/b/demo"
    assert repository_for(parse_reference("oci://h"), "demo") == "demo"
    with pytest.raises(InputError, match=r"^name: chart name 'Foo_Bar' is invalid: "):
        repository_for(parse_reference("oci://h/a"), "Foo_Bar")


def test_tags_replace_plus_and_read_back() -> None:
    # RELIABILITY row 14: 1.2.3+build is tagged 1.2.3_build.
    assert tag_for_version("1.2.3+build.5") == "1.2.3_build.5"
    assert version_for_tag("1.2.3_build.5") == "1.2.3+build.5"
    assert version_for_tag("latest") is None


@pytest.mark.parametrize("bad", ["v1", "1.0", "01.2.3", "1.2.3-", "1.2.3+", "1.02.3", "", "1.2.3 "])
def test_invalid_versions_rejected(bad: str) -> None:
    with pytest.raises(InputError, match="SemVer"):
        parse_semver(bad)
    with pytest.raises(
        InputError,
        match=rf"^version: {re.escape(repr(bad))} is not a SemVer version: expected MAJOR\.MINOR",
    ):
        tag_for_version(bad)


def test_semver_precedence() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.2.0",
        "1.10.0",
        "2.0.0",
    ]
    shuffled = random.Random(7).sample(ordered, len(ordered))
    assert sorted(shuffled, key=parse_semver) == ordered


@given(st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999)))
def test_semver_round_trips_and_next_patch_is_higher(parts: tuple[int, int, int]) -> None:
    text = "{}.{}.{}".format(*parts)
    version = parse_semver(text)
    assert str(version) == text
    assert version.next_patch() > version
    assert version_for_tag(tag_for_version(text + "+b1")) == text + "+b1"


def test_version_policies() -> None:
    assert resolve_version("app", app_version="2.4.1") == "2.4.1"
    assert resolve_version(VersionPolicy.EXPLICIT, explicit="3.0.0") == "3.0.0"
    assert resolve_version("auto") == "0.1.0"
    published = ["0.1.0", "0.1.10", "0.1.9", "latest"]
    assert resolve_version("auto", published=published) == "0.1.11"
    assert resolve_version("auto", published=published, highest_matches=True) == "0.1.10"
    assert resolve_version("auto", published=["1.0.0-rc.1"]) == "1.0.0"
    with pytest.raises(InputError, match="app, auto or explicit"):
        resolve_version("newest")
    with pytest.raises(InputError, match="appVersion"):
        resolve_version("app", app_version="v1")
    with pytest.raises(InputError, match=r"^version: policy explicit needs a version$"):
        resolve_version("explicit")


def test_artifact_has_helm_layout_and_is_reproducible() -> None:
    archive = make_chart(
        "demo",
        "1.2.3+build",
        annotations={"helmforge.dev/template": "web@3", "helmforge.dev/context": "prod/eu"},
    )
    first, second = build_artifact(archive), build_artifact(archive)
    assert first == second
    manifest = json.loads(first.manifest)
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE
    assert manifest["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    assert manifest["config"]["digest"] == sha256_digest(first.config)
    assert [layer["mediaType"] for layer in manifest["layers"]] == [CHART_LAYER_MEDIA_TYPE]
    assert manifest["layers"][0] == {
        "mediaType": CHART_LAYER_MEDIA_TYPE,
        "digest": sha256_digest(archive),
        "size": len(archive),
    }
    assert layer_digest_of(manifest) == first.layer_digest == sha256_digest(archive)
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.title"] == "demo"
    assert annotations["org.opencontainers.image.version"] == "1.2.3+build"
    assert annotations["org.opencontainers.image.description"] == "A demo chart"
    assert annotations["helmforge.dev/template"] == "web@3"
    assert "org.opencontainers.image.created" not in annotations
    assert first.tag == "1.2.3_build"
    config = json.loads(first.config)
    assert list(config)[:4] == ["name", "version", "description", "apiVersion"]
    assert config["appVersion"] == "1.0.0"
    assert first.blobs == ((first.config_digest, first.config), (first.layer_digest, archive))


def _tgz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not gzip at all", "gzip"),
        (_tgz({"demo/values.yaml": b"a: 1\n"}), "Chart.yaml"),
        (_tgz({"demo/Chart.yaml": b"name: Demo\nversion: 1.0.0\n"}), "name"),
        (_tgz({"demo/Chart.yaml": b"name: demo\nversion: v1\n"}), "SemVer"),
        (_tgz({"demo/Chart.yaml": b"- a list\n"}), "mapping"),
        (_tgz({"a/Chart.yaml": b"name: a\nversion: 1.0.0\n", "b/x": b""}), "one top folder"),
    ],
)
def test_bad_archives_rejected_with_reason(content: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        read_chart_metadata(content, source="bad.tgz")
    assert "bad.tgz" in str(caught.value)


def test_gzip_bomb_rejected() -> None:
    bomb = gzip.compress(b"\0" * (65 << 20))
    with pytest.raises(TooLargeError, match=r"^archive unpacks to more than 64 MiB$"):
        read_chart_metadata(bomb)


def test_challenges_parse_quoted_commas() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry",'
        'scope="repository:a/b:pull,push",error="insufficient_scope"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.params["scope"] == "repository:a/b:pull,push"
    assert challenge.params["realm"] == "https://auth.example/token"
    assert challenge.error == "insufficient_scope"
    assert parse_challenge('Basic realm="x y"').params == {"realm": "x y"}
    assert parse_challenge("").scheme == ""


def test_secrets_never_print() -> None:
    secret = Secret("canary-xyz")
    registry = Registry("oci://h/p", username="robot$proj+ci", password=secret)
    for text in (str(secret), repr(secret), f"{secret}", repr(registry), str(registry)):
        assert "canary-xyz" not in text
    assert secret.reveal() == "canary-xyz"
    with pytest.raises(TypeError, match="a Secret is not picklable"):
        pickle.dumps(secret)
    with pytest.raises(InputError, match="both"):
        Registry("oci://h/p", username="u")
    assert Registry("oci://h:5000/p", plain_http=True).base_url == "http://h:5000"
