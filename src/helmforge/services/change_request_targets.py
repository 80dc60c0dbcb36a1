"""Where a change request points, kept in its row's target columns, and who may see it, as a
WHERE clause: the inbox is filtered and paged by the database (``access.allowed_where``) with
the rule that ``change_requests`` applies to one request in hand (``access.allowed``).

A request's target is a context (``p/c/e/i``) or a template name; ``text_of`` writes it as the
``target`` text and ``columns_of`` splits that text into the columns (the ``access_0004``
migration filled old rows the same way), so a row's columns and its text always agree.
"""

from __future__ import annotations

__all__ = ["columns_of", "parse_target", "target_of", "text_of", "visible_where"]

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.access_tables import ChangeRequestRow
from helmforge.core.access.policy import Target, scope_kind_of
from helmforge.core.access.principals import Principal
from helmforge.services import access

CONTEXT = "context"
TEMPLATE = "template"

_CONTEXT_COLUMNS = (
    ChangeRequestRow.target_product,
    ChangeRequestRow.target_customer,
    ChangeRequestRow.environment,
    ChangeRequestRow.target_instance,
)


def text_of(target: Target) -> str:
    """The ``target`` text of a proposal's target: its context joined by ``/``, else its
    template name (``helmforge`` for neither, which no operation proposes)."""
    return "/".join(target.context) if target.context else (target.template or "helmforge")


def columns_of(text: str) -> dict[str, str]:
    """The target columns of a request whose ``target`` is ``text``: four names joined by
    ``/`` are a context (its environment is the ``environment`` column), anything else a
    template name."""
    parts = text.split("/")
    if len(parts) == 4:
        product, customer, _environment, instance = parts
        return {
            "target_kind": CONTEXT,
            "target_product": product,
            "target_customer": customer,
            "target_instance": instance,
            "target_template": "",
        }
    return {
        "target_kind": TEMPLATE,
        "target_product": "",
        "target_customer": "",
        "target_instance": "",
        "target_template": text,
    }


def parse_target(text: str) -> Target:
    """The access target a ``target`` text names (what ``columns_of`` stores, as a
    ``Target``)."""
    parts = text.split("/")
    if len(parts) == 4:
        return Target.of_context(*parts)
    return Target(template=text)


def target_of(row: ChangeRequestRow) -> Target:
    """The access target of a stored request, read from its target columns."""
    if row.target_kind == CONTEXT:
        return Target.of_context(
            row.target_product, row.target_customer, row.environment, row.target_instance
        )
    return Target(template=row.target_template)


def visible_where(
    sessions: sessionmaker[Session],
    actor: Principal,
    readers: Mapping[str, tuple[str, ...]],
) -> sa.ColumnElement[bool]:
    """The requests ``actor`` may see: their own, and those of a kind in ``readers`` (kind ->
    the permissions that let others see it) where they hold one of those permissions at the
    target. A permission is checked only against a target of its own scope kind, as
    ``decide`` refuses a context permission on a template (and the reverse); a kind missing
    from ``readers`` is seen by its requester alone."""
    kinds_of: dict[str, set[str]] = {}
    for kind, permissions in readers.items():
        for permission in permissions:
            kinds_of.setdefault(permission, set()).add(kind)
    shapes: dict[str, tuple[sa.ColumnElement[bool], tuple[sa.SQLColumnExpression[str], ...]]] = {}
    for permission in kinds_of:
        scope_kind = scope_kind_of(permission)
        if scope_kind == CONTEXT:
            shapes[permission] = (ChangeRequestRow.target_kind == CONTEXT, _CONTEXT_COLUMNS)
        elif scope_kind == TEMPLATE:
            shapes[permission] = (
                ChangeRequestRow.target_kind == TEMPLATE,
                (ChangeRequestRow.target_template,),
            )
        else:
            shapes[permission] = (sa.true(), ())
    granted = access.allowed_where_each(
        sessions, actor, {permission: columns for permission, (_, columns) in shapes.items()}
    )
    clauses: list[sa.ColumnElement[bool]] = [ChangeRequestRow.requester == actor.name]
    for permission, kinds in sorted(kinds_of.items()):
        shape = shapes[permission][0]
        clauses.append(
            sa.and_(ChangeRequestRow.kind.in_(sorted(kinds)), shape, granted[permission])
        )
    return sa.or_(*clauses)
