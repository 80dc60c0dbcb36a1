"""Small valid chart archives for OCI tests, built with tarfile (reproducible)."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Mapping

from helmforge.core.yaml_codec import dump_yaml


def make_chart(
    name: str = "demo",
    version: str = "1.0.0",
    *,
    app_version: str = "1.0.0",
    description: str = "A demo chart",
    annotations: Mapping[str, str] | None = None,
    payload: str = "",
) -> bytes:
    """A reproducible chart .tgz: Chart.yaml, values.yaml and templates/x.yaml."""
    chart: dict[str, object] = {
        "apiVersion": "v2",
        "name": name,
        "version": version,
        "appVersion": app_version,
        "description": description,
        "type": "application",
    }
    if annotations:
        chart["annotations"] = dict(annotations)
    files = {
        f"{name}/Chart.yaml": dump_yaml(chart).encode(),
        f"{name}/values.yaml": f"replicaCount: 1\npayload: {payload or 'none'!r}\n".encode(),
        f"{name}/templates/x.yaml": (
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-x\n"
            b"data:\n  payload: {{ .Values.payload | quote }}\n"
        ),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[path]))
    return gzip.compress(raw.getvalue(), mtime=0)
