"""Trees of a commit built in process (pygit2), for ``adapters.git``: the parent's tree with
some files replaced, added or deleted, sharing every untouched subtree with the parent.
"""

from __future__ import annotations

__all__ = ["tree_with"]

from collections.abc import Mapping

import pygit2
from pygit2.enums import FileMode, ObjectType

from helmforge.core.errors import InputError, Location


def tree_with(
    repo: pygit2.Repository,
    parent: str | None,
    files: Mapping[str, bytes | None],
    *,
    where: str,
) -> pygit2.Oid:
    """The tree of commit ``parent`` (none: empty) with ``files`` changed (``None`` deletes a
    file). Raises ``InputError`` naming a path that is not a plain file path inside the
    repository (``..``, ``.git``, empty segments); ``where`` names the repository."""
    base = None if parent is None else repo[parent].peel(pygit2.Tree)
    split: dict[tuple[str, ...], bytes | None] = {}
    for path, content in files.items():
        parts = tuple(path.split("/"))
        if any(part in ("", ".", "..", ".git") for part in parts):
            raise InputError(
                f"{path!r} is not a file path inside the repository",
                location=Location(where, path=path),
            )
        split[parts] = content
    oid = _write_tree(repo, base, split)
    return oid if oid is not None else repo.TreeBuilder().write()


def _write_tree(
    repo: pygit2.Repository,
    base: pygit2.Tree | None,
    files: Mapping[tuple[str, ...], bytes | None],
) -> pygit2.Oid | None:
    """``base`` with ``files`` changed (None deletes); None when the tree ends up empty
    (Git has no empty folders)."""
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    nested: dict[str, dict[tuple[str, ...], bytes | None]] = {}
    for parts, content in files.items():
        if len(parts) > 1:
            nested.setdefault(parts[0], {})[parts[1:]] = content
        elif content is None:
            if builder.get(parts[0]) is not None:
                builder.remove(parts[0])
        else:
            builder.insert(parts[0], repo.create_blob(content), FileMode.BLOB)
    for name, inner in nested.items():
        entry = base[name] if base is not None and name in base else None
        subtree = (
            repo[entry.id].peel(pygit2.Tree)
            if entry is not None and entry.type == ObjectType.TREE
            else None
        )
        oid = _write_tree(repo, subtree, inner)
        if oid is None:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            builder.insert(name, oid, FileMode.TREE)
    return builder.write() if len(builder) else None
