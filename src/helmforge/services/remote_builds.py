"""Building charts on a helmforge server (the CLI's ``--server`` mode)."""

from __future__ import annotations

__all__ = ["build_on_server"]

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from helmforge.adapters.server_clients import ServerClient
from helmforge.core.contexts import parse_context
from helmforge.core.errors import ExternalServiceError, InputError


def build_on_server(
    *,
    server: str,
    token: str,
    template: str,
    context: dict[str, Any],
    values: dict[str, Any],
    chart_version: str | None,
    out_dir: Path,
) -> Path:
    """Ask the server to build ``template`` for ``context``, download the archive, check that
    its sha256 is the recorded digest, and write ``out_dir/<chart>-<version>.tgz``.

    Raises ``InputError`` (bad context, no token), the server's errors, and
    ``ExternalServiceError`` when the download does not match the digest.
    """
    if not token:
        raise InputError("no API token: set HELMFORGE_TOKEN (create one: helmforge tokens create)")
    parse_context(context)  # fail before calling the server
    with ServerClient(server, token=token) as client:
        build = client.build_chart(
            template=template, context=context, values=values, chart_version=chart_version
        )
        archive = client.chart_archive(str(build["id"]))
    digest = "sha256:" + hashlib.sha256(archive).hexdigest()
    if digest != build.get("digest"):
        raise ExternalServiceError(
            f"downloaded archive has digest {digest}, the server recorded {build.get('digest')}"
        )
    name = Path(str(build.get("file_name", ""))).name
    if not name.endswith(".tgz") or name.startswith("."):
        raise ExternalServiceError(f"server sent an unusable file name {name!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    handle, temporary = tempfile.mkstemp(dir=out_dir, prefix=".helmforge-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(archive)
        Path(temporary).replace(target)
    finally:
        Path(temporary).unlink(missing_ok=True)  # gone already after a successful replace
    return target
