"""Reproducible chart archives; defensive reading of archives and folders (RELIABILITY 16-17)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from helmforge.adapters.archives import (
    DEFAULT_MTIME,
    pack_chart,
    read_chart_archive,
    read_chart_file,
    read_chart_folder,
)
from helmforge.core.errors import InputError, TooLargeError
from tests.support.helm import assert_helm_lints, helm_show_chart

CHART_FILES = {
    "Chart.yaml": b"apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: '1.0'\n",
    "values.yaml": b"replicaCount: 1\n",
    "templates/configmap.yaml": (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-demo\n"
        b"data:\n  replicas: {{ .Values.replicaCount | quote }}\n"
    ),
    "templates/NOTES.txt": b"Installed {{ .Chart.Name }}.\n",
}


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, content in members:
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content else None)
    return gzip.compress(buffer.getvalue())


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_pack_is_byte_reproducible_and_normalised() -> None:
    first = pack_chart("demo", CHART_FILES)
    reordered = dict(reversed(list(CHART_FILES.items())))
    digests = {hashlib.sha256(pack_chart("demo", reordered)).hexdigest() for _ in range(5)}
    assert digests == {hashlib.sha256(first).hexdigest()}
    assert first[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"  # no name, mtime 0
    assert gzip.compress(gzip.decompress(first), compresslevel=1, mtime=0) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    names = [entry.name for entry in members]
    assert names == [
        "demo",
        "demo/Chart.yaml",
        "demo/templates",
        "demo/templates/NOTES.txt",
        "demo/templates/configmap.yaml",
        "demo/values.yaml",
    ]
    for entry in members:
        assert (entry.uid, entry.gid, entry.uname, entry.gname) == (0, 0, "", "")
        assert entry.mtime == DEFAULT_MTIME
        assert entry.mode == (0o755 if entry.isdir() else 0o644)
    assert pack_chart("demo", CHART_FILES, mtime=0) != first


def test_round_trip_including_long_and_unicode_names() -> None:
    files = dict(CHART_FILES)
    files["templates/" + "d" * 90 + "/" + "e" * 60 + ".yaml"] = b"# long\n"
    files["files/ü" + "x" * 120 + ".txt"] = "über".encode()
    assert read_chart_archive(pack_chart("demo", files)) == dict(sorted(files.items()))


@pytest.mark.helm
def test_helm_reads_and_lints_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "demo-1.2.3.tgz"
    archive.write_bytes(pack_chart("demo", CHART_FILES))
    assert "name: demo" in helm_show_chart(archive)
    assert_helm_lints(archive)


@pytest.mark.parametrize(
    ("path"), ["../evil", "/etc/passwd", "a/../../b", "", "a//b", "a\\b", "C:/x", "./x"]
)
def test_pack_refuses_paths_leaving_the_chart(path: str) -> None:
    with pytest.raises(InputError, match="path"):
        pack_chart("demo", {path: b"x"})


@pytest.mark.parametrize("name", ["", "..", "a/b", "a\\b"])
def test_pack_refuses_bad_chart_folder_names(name: str) -> None:
    with pytest.raises(InputError, match="chart name"):
        pack_chart(name, CHART_FILES)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (member("demo/../../etc/passwd"), r"'\.\.'"),
        (member("/demo/Chart.yaml"), "relative"),
        (member("demo/link", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (member("demo/hard", tarfile.LNKTYPE, "demo/Chart.yaml"), "link"),
        (member("demo/dev", tarfile.CHRTYPE), "not a regular file"),
        (member("demo/fifo", tarfile.FIFOTYPE), "not a regular file"),
        (member("Chart.yaml"), "not inside the chart folder"),
        (member("other/values.yaml"), "outside the chart folder"),
        (member("demo/Chart.yaml"), "twice"),
    ],
)
def test_read_refuses_hostile_entries(entry: tarfile.TarInfo, message: str) -> None:
    data = tar_bytes((member("demo/Chart.yaml"), b"name: demo\n"), (entry, b""))
    with pytest.raises(InputError, match=message):
        read_chart_archive(data, source="up.tgz")


def test_read_refuses_a_gzip_bomb_within_budget() -> None:
    bomb = tar_bytes((member("demo/values.yaml"), bytes(50 * 1024 * 1024)))
    assert len(bomb) < 100_000
    with pytest.raises(TooLargeError, match="gzip bomb"):
        read_chart_archive(bomb, max_bytes=1024 * 1024)


def test_read_refuses_too_many_files() -> None:
    data = tar_bytes(*((member(f"demo/f{index}"), b"x") for index in range(30)))
    with pytest.raises(TooLargeError, match="more than 20 entries"):
        read_chart_archive(data, max_files=20)


@pytest.mark.parametrize(
    "data",
    [b"", b"not gzip at all", gzip.compress(b"not a tar" * 100, mtime=0), b"\x1f\x8b\x08\x00"],
    ids=["empty", "not-gzip", "not-tar", "header-only"],
)
def test_read_refuses_damaged_archives(data: bytes) -> None:
    with pytest.raises(
        InputError,
        match=r"^<archive>: (not a gzip-compressed archive|not a valid tar archive|the gzip "
        r"stream is truncated)",
    ):
        read_chart_archive(data)


def test_read_truncated_archive() -> None:
    data = pack_chart("demo", CHART_FILES)
    with pytest.raises(InputError, match=r"truncated|gzip"):
        read_chart_archive(data[: len(data) // 2])


def write_chart(root: Path) -> None:
    for path, content in CHART_FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)


def test_folder_reads_files_honours_helmignore_and_inner_links(tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    write_chart(chart)
    (chart / ".helmignore").write_text("# comment\n*.swp\n.git/\n")
    (chart / "x.swp").write_bytes(b"editor junk")
    (chart / ".git").mkdir()
    (chart / ".git" / "HEAD").write_text("ref\n")
    (chart / "templates" / "again.yaml").symlink_to(chart / "templates" / "configmap.yaml")
    files = read_chart_folder(chart)
    assert set(files) == {*CHART_FILES, ".helmignore", "templates/again.yaml"}
    assert files["templates/again.yaml"] == CHART_FILES["templates/configmap.yaml"]


def test_folder_refuses_links_leaving_it(tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    write_chart(chart)
    (tmp_path / "secret").write_text("s3cret")
    (chart / "templates" / "leak.yaml").symlink_to(tmp_path / "secret")
    with pytest.raises(InputError, match="outside the chart folder"):
        read_chart_folder(chart)


def test_folder_refuses_dangling_links_pipes_and_budgets(tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    write_chart(chart)
    (chart / "dangling").symlink_to(tmp_path / "nothing")
    with pytest.raises(InputError, match="leads nowhere"):
        read_chart_folder(chart)
    (chart / "dangling").unlink()
    os.mkfifo(chart / "pipe")
    with pytest.raises(InputError, match="device, pipe or socket"):
        read_chart_folder(chart)
    (chart / "pipe").unlink()
    with pytest.raises(TooLargeError, match=r"/demo: more than 2 files$"):
        read_chart_folder(chart, max_files=2)
    with pytest.raises(TooLargeError, match=r"/demo: Chart\.yaml: more than 10 bytes of files$"):
        read_chart_folder(chart, max_bytes=10)
    with pytest.raises(InputError, match="cannot open"):
        read_chart_folder(tmp_path / "missing")


def test_folder_refuses_a_sparse_file_over_budget_without_reading_it(tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    write_chart(chart)
    with (chart / "huge.bin").open("wb") as sparse:
        sparse.truncate(1 << 30)  # 1 GiB of holes: reading it would take 1 GB of memory
    with pytest.raises(TooLargeError, match=r"huge\.bin"):
        read_chart_folder(chart)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder"])
def test_chart_file_refuses_non_regular_files_unread(tmp_path: Path, special: str) -> None:
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "chart.tgz"
        os.mkfifo(path)  # opening it for reading would block without a writer
    elif special == "folder":
        path = tmp_path
    with pytest.raises(InputError, match="not a regular file"):
        read_chart_file(path, max_bytes=1024)


def test_chart_file_is_read_up_to_the_budget_only(tmp_path: Path) -> None:
    path = tmp_path / "chart.tgz"
    path.write_bytes(b"x" * 11)
    assert read_chart_file(path, max_bytes=11) == b"x" * 11
    with pytest.raises(TooLargeError, match="over the budget of 10 bytes"):
        read_chart_file(path, max_bytes=10)
    with pytest.raises(InputError, match="cannot read"):
        read_chart_file(tmp_path / "missing.tgz", max_bytes=10)
