"""Instances and their values on a helmforge server (``helmforge instances ...`` and
``helmforge values ...`` with ``--server``).

Every decision is the server's (rights, schema checks, approvals); this module carries the
caller's token there and the answer back. What it adds is the client side of a safe edit:
``set_values`` reads the instance's revision first and sends it as ``If-Match`` (the one the
caller named, else the one it read), so a change made in between is answered 409 with the
diff instead of being overwritten. A change in an environment that needs approval answers
with a change request (``change_request`` in the answer).
"""

from __future__ import annotations

__all__ = [
    "StaleAnswerError",
    "client",
    "create_instance",
    "edit_values",
    "instance_action",
    "list_instances",
    "paths_text",
    "read_values_file",
    "set_values",
    "show_instance",
    "values_history",
    "values_of",
]

import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from helmforge.adapters.server_clients import ServerClient, StaleAnswerError
from helmforge.core.errors import InputError, Location
from helmforge.core.instances.value_paths import format_path, parse_path
from helmforge.core.instances.values_edits import DeleteValue, SetValue, ValuesEdit, apply_edits
from helmforge.core.instances.values_text import (
    MAX_VALUES_BYTES,
    ValuesText,
    checked_values_text,
)
from helmforge.core.yaml_codec import load_single


@contextlib.contextmanager
def client(server: str, token: str) -> Iterator[ServerClient]:
    """A client of ``server`` acting with ``token``; ``InputError`` when there is no token."""
    if not token:
        raise InputError("no API token: set HELMFORGE_TOKEN (create one: helmforge tokens create)")
    with ServerClient(server, token=token) as opened:
        yield opened


def create_instance(*, server: str, token: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Create the instance ``body`` describes (the API's ``POST /instances`` body): the
    instance as created, or the change request that waits for approval."""
    with client(server, token) as opened:
        return opened.create_instance(dict(body))


def list_instances(*, server: str, token: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The instances the token's user may read, by id, filtered as the API filters."""
    with client(server, token) as opened:
        return opened.instances(dict(filters))


def show_instance(*, server: str, token: str, instance: str) -> dict[str, Any]:
    """One instance with its values, effective values and revision."""
    with client(server, token) as opened:
        return opened.instance(instance)


def values_of(shown: Mapping[str, Any]) -> tuple[str, dict[str, Any], str]:
    """The revision, overrides and values.yaml text of an instance as the server showed it;
    ``InputError`` saying why when they cannot be edited (no ``values.read``, or a file
    someone wrote outside helmforge that does not read)."""
    instance = shown.get("id", "the instance")
    if shown.get("values_error"):
        raise InputError(f"values.yaml of {instance} cannot be read: {shown['values_error']}")
    values, text, revision = shown.get("values"), shown.get("values_yaml"), shown.get("revision")
    if not isinstance(values, dict) or not isinstance(text, str):
        raise InputError(f"the server shows no values of {instance}: you may not read them")
    if not isinstance(revision, str) or not revision:
        raise InputError(f"the server shows no revision of {instance}: it is not in Git yet")
    return revision, values, text


def _assignment(argument: str, number: int) -> SetValue:
    """``PATH=VALUE``: the value read as YAML (``3`` a number, ``"3"`` text, ``[a, b]`` a
    list, ``{cpu: 1}`` a mapping); nothing after ``=`` is the empty text."""
    path_text, equals, raw = argument.partition("=")
    where = f"assignment #{number} ({argument[:80]!r})"
    if not equals:
        raise InputError(
            f"{where} is not PATH=VALUE (for example image.tag=1.2.3 or env[0].value=on)"
        )
    path = parse_path(path_text.strip(), source=where)
    value = load_single(raw, source=where).data if raw.strip() else ""
    return SetValue(path, value)


def set_values(
    *,
    server: str,
    token: str,
    instance: str,
    assignments: Sequence[str],
    unset: Sequence[str] = (),
    if_match: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Set (and ``unset``) values at paths of the instance's overrides, as one change on the
    revision ``if_match`` or, without it, the revision read just before.

    Returns the server's answer: the change, the change request (``change_request``), or for
    an edit that changes nothing ``{"committed": False, "revision": ...}`` without a call.
    Raises ``InputError`` (a bad assignment or path, an edit that does not fit the values),
    ``StaleAnswerError`` (the instance changed since that revision: its diff), the server's
    errors otherwise.
    """
    edits: list[ValuesEdit] = [
        _assignment(argument, number) for number, argument in enumerate(assignments, start=1)
    ]
    edits += [DeleteValue(parse_path(path.strip(), source="--unset")) for path in unset]
    if not edits:
        raise InputError("name at least one PATH=VALUE to set (or --unset PATH)")
    with client(server, token) as opened:
        revision, values, text = values_of(opened.instance(instance))
        wanted = apply_edits(text, edits, source=f"values of {instance}").after
        if wanted == values and (if_match is None or if_match == revision):
            return {"committed": False, "revision": revision, "diff": ""}
        return opened.put_values(instance, wanted, if_match=if_match or revision, message=message)


def read_values_file(path: str) -> ValuesText:
    """values.yaml's text in a file (``-`` for stdin), checked as the server checks it
    (``core.instances.values_text``): ``InputError`` naming the file and line, nothing
    sent. The text is sent as written, so its comments land in Git."""
    source = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            content = sys.stdin.buffer.read(MAX_VALUES_BYTES + 1)
        else:
            with Path(path).open("rb") as stream:
                content = stream.read(MAX_VALUES_BYTES + 1)
    except OSError as error:
        raise InputError(
            f"cannot read values file: {error.strerror}", location=Location(source)
        ) from None
    if len(content) > MAX_VALUES_BYTES:
        raise InputError(
            f"a values file holds at most {MAX_VALUES_BYTES} bytes", location=Location(source)
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise InputError(
            "a values file is UTF-8 text", location=Location(source, line=line)
        ) from None
    return checked_values_text(text.replace("\r\n", "\n"), source=source)


def edit_values(
    *,
    server: str,
    token: str,
    instance: str,
    values: ValuesText,
    if_match: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Make ``values`` (a file's text) the instance's values.yaml, as written — comments
    and order included — on revision ``if_match`` (refused with the diff when the instance
    changed since), or on the revision read just before; nothing is sent when the file in
    Git is this text already."""
    with client(server, token) as opened:
        revision, _, current = values_of(opened.instance(instance))
        if values.text == current and (if_match is None or if_match == revision):
            return {"committed": False, "revision": revision, "diff": ""}
        return opened.put_values(
            instance,
            None,
            if_match=if_match or revision,
            message=message,
            values_yaml=values.text,
        )


def values_history(*, server: str, token: str, instance: str, limit: int) -> list[dict[str, Any]]:
    """The commits that changed the instance, newest first (who, when, message, diff)."""
    with client(server, token) as opened:
        return opened.history(instance, limit=limit)


def instance_action(
    *, server: str, token: str, instance: str, action: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Roll back, upgrade or promote the instance (``action``): the change made, or the
    change request that waits for approval."""
    with client(server, token) as opened:
        return opened.instance_action(instance, action, dict(body))


def paths_text(paths: Sequence[str]) -> list[str]:
    """Value paths as the server reads them (checked here first, naming the bad one)."""
    return [format_path(parse_path(path.strip(), source="--values")) for path in paths]
