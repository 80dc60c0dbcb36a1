"""What differs between a build refused as a publish conflict and the build already published
under that chart version, when helmforge recorded that push.

A registry tag names only digests; the files behind the published digest are known here only
when the push went through helmforge (``chart_pushes`` keeps the build it pushed). Content
pushed from outside (``helm push``, another tool) has no recorded build: the answer is ``None``.
"""

from __future__ import annotations

__all__ = ["PublishedDiff", "diff_with_published"]

import difflib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.publishing_tables import PushRow
from helmforge.core.access.principals import Principal
from helmforge.core.errors import NotFoundError
from helmforge.services import chart_builds

#: A chart's files are kilobytes; a diff past this is cut (and says so) rather than shown whole.
MAX_DIFF_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class PublishedDiff:
    """``diff`` is the unified diff from the published build's files to the refused build's
    (``a/`` published, ``b/`` refused), file by file in path order."""

    published_build_id: str
    registry: str
    version: str
    diff: str
    truncated: bool


def diff_with_published(
    sessions: sessionmaker[Session], build_id: str, *, registry: str, actor: Principal
) -> PublishedDiff | None:
    """The diff of build ``build_id`` against the build helmforge last pushed to ``registry``
    under the same chart and version with other content, or ``None`` when no such push is
    recorded here (or the actor may not read that build). Raises ``NotFoundError`` for an
    unknown or unreadable ``build_id``."""
    build = chart_builds.get_build(sessions, build_id, actor=actor)
    with sessions() as session:
        published_id = session.scalar(
            sa.select(PushRow.build_id)
            .where(
                PushRow.registry_name == registry,
                PushRow.chart == build.name,
                PushRow.version == build.version,
                PushRow.status.in_(("pushed", "unchanged")),
                PushRow.layer_digest != build.digest,
                PushRow.build_id.is_not(None),
            )
            .order_by(PushRow.id.desc())
            .limit(1)
        )
    if published_id is None:
        return None
    try:
        before = chart_builds.build_files(sessions, published_id, actor=actor)
    except NotFoundError:
        return None  # recorded, but not readable by this actor: as good as unknown to them
    after = chart_builds.build_files(sessions, build_id, actor=actor)
    text = "".join(
        _file_diff(path, before.get(path), after.get(path))
        for path in sorted(before.keys() | after.keys())
    )
    truncated = len(text) > MAX_DIFF_CHARS
    return PublishedDiff(
        published_build_id=published_id,
        registry=registry,
        version=build.version,
        diff=text[:MAX_DIFF_CHARS],
        truncated=truncated,
    )


def _file_diff(path: str, before: str | None, after: str | None) -> str:
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile=f"a/{path}" if before is not None else "/dev/null",
        tofile=f"b/{path}" if after is not None else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
