"""The chart archive writer (adapters/archives.pack_chart) against ``tarfile``, in one run.

Both pack the example templates' rendered charts the reproducible way (entries sorted under
``<chart>/``, one fixed mtime, uid/gid 0, empty owner names, modes 0644/0755, folders
listed) and gzip the tar with the same ``_gzip``, so only the tar writing differs. ``tarfile``
cannot give byte-identical archives: Python 3.13 leaves the device fields of files and
folders empty (NUL) where the writer writes zeros, and pads the tar to 10 KiB records (cut off
here). The archives are checked to hold the same entries with the same contents and headers.
Figures are microseconds per chart (best of ROUNDS); the ratio is tarfile / helmforge.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from helmforge.adapters.archives import (
    DEFAULT_MTIME,
    _gzip,
    check_chart_folder_name,
    check_relative_path,
    pack_chart,
)
from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.rendering import render_chart
from helmforge.core.contexts import parse_context
from helmforge.core.templates.parsing import parse_template

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "templates"
ROUNDS = 5
REPEAT = 200
_OVERRIDES: dict[str, dict[str, object]] = {
    "stateful-store.yaml": {"password": "s3cret"},
    "config-edge-cases.yaml": {"code": "XYZ"},
}


def pack_with_tarfile(
    chart_name: str, files: Mapping[str, bytes], *, mtime: int = DEFAULT_MTIME
) -> bytes:
    """What ``pack_chart`` writes, written by ``tarfile`` (PAX format, USTAR where it fits)."""
    check_chart_folder_name(chart_name)
    entries = sorted((check_relative_path(path, source=chart_name), path) for path in files)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, content: bytes | None) -> None:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.mode = 0o755 if content is None else 0o644
            info.type = tarfile.DIRTYPE if content is None else tarfile.REGTYPE
            info.size = 0 if content is None else len(content)
            tar.addfile(info, None if content is None else io.BytesIO(content))

        add(chart_name + "/", None)
        folders: set[tuple[str, ...]] = set()
        for parts, path in entries:
            for depth in range(1, len(parts)):
                if parts[:depth] not in folders:
                    folders.add(parts[:depth])
                    add(f"{chart_name}/{'/'.join(parts[:depth])}/", None)
            add(f"{chart_name}/{path}", files[path])
        end = tar.offset + 1024  # the two end blocks, without tarfile's record padding
    return _gzip(buffer.getvalue()[:end])


def _entries(archive: bytes) -> list[tuple[str, int, int, int, int, str, str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return [
            (
                member.name,
                member.mode,
                member.mtime,
                member.uid,
                member.gid,
                member.uname,
                member.gname,
                (tar.extractfile(member) or io.BytesIO()).read() if member.isfile() else b"",
            )
            for member in tar.getmembers()
        ]


def _charts() -> list[tuple[str, dict[str, bytes]]]:
    context = parse_context(
        {
            "product": "ledger",
            "customer": "acme",
            "environment": "prod",
            "instance": "a1",
            "version": "3.4.0",
        }
    )
    charts = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        template = parse_template(path.read_bytes(), source=path.name)
        chart = render_chart(
            template,
            context,
            schemas=load_schema_set(template.kubernetes_version),
            overrides=_OVERRIDES.get(path.name, {}),
            generator_version="0.0.0-bench",
        )
        charts.append((path.stem, dict(chart.files)))
    return charts


def _best(
    pack: Callable[[str, Mapping[str, bytes]], bytes], name: str, files: dict[str, bytes]
) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(REPEAT):
            pack(name, files)
        best = min(best, time.perf_counter() - start)
    return best / REPEAT * 1e6


def run() -> dict[str, float | str]:
    """Pack every example chart with both writers, taking turns; print a table."""
    figures: dict[str, float | str] = {}
    print(f"archives benchmark (microseconds per chart, best of {ROUNDS} x {REPEAT})")
    print(f"  {'chart':<20}  {'files':>5}  {'helmforge':>9}  {'tarfile':>8}  ratio")
    for name, files in _charts():
        assert _entries(pack_chart(name, files)) == _entries(pack_with_tarfile(name, files))
        own = _best(pack_chart, name, files)
        other = _best(pack_with_tarfile, name, files)
        print(f"  {name:<20}  {len(files):>5}  {own:9.1f}  {other:8.1f}  {other / own:5.2f}")
        figures[f"{name} tarfile/helmforge"] = round(other / own, 3)
    return figures


if __name__ == "__main__":
    run()
