"""Access: a change request's target in columns of its own (``target_kind``, the context's
product, customer and instance beside ``environment``, or the template name), so the inbox is
filtered and paged by access in SQL. Existing rows are filled from their ``target`` text, the
target their proposal recorded and the one the inbox decided on until now: four names joined by
``/`` are a context, anything else a template name.

Revision ID: access_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "access_0004"
down_revision = "access_0003"
branch_labels = None
depends_on = None

_COLUMNS = (
    "target_kind",
    "target_product",
    "target_customer",
    "target_instance",
    "target_template",
)
_BATCH = 1000


def _split(target: str) -> dict[str, str]:
    parts = target.split("/")
    if len(parts) == 4:
        return {
            "target_kind": "context",
            "target_product": parts[0],
            "target_customer": parts[1],
            "target_instance": parts[3],
            "target_template": "",
        }
    return {
        "target_kind": "template",
        "target_product": "",
        "target_customer": "",
        "target_instance": "",
        "target_template": target,
    }


def upgrade() -> None:
    """Add the target columns and fill them from each row's ``target``."""
    with op.batch_alter_table("change_requests") as table:
        table.add_column(
            sa.Column("target_kind", sa.String(16), nullable=False, server_default="template")
        )
        for name in _COLUMNS[1:]:
            table.add_column(sa.Column(name, sa.String(300), nullable=False, server_default=""))
    connection = op.get_bind()
    requests = sa.table(
        "change_requests",
        sa.column("id", sa.Integer()),
        sa.column("target", sa.String()),
        *(sa.column(name, sa.String()) for name in _COLUMNS),
    )
    update = (
        sa.update(requests)
        .where(requests.c.id == sa.bindparam("row_id"))
        .values({name: sa.bindparam(name) for name in _COLUMNS})
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(requests.c.id, requests.c.target)
            .where(requests.c.id > last)
            .order_by(requests.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        connection.execute(update, [{"row_id": id_, **_split(target)} for id_, target in rows])
        last = rows[-1][0]


def downgrade() -> None:
    """Drop the target columns."""
    with op.batch_alter_table("change_requests") as table:
        for name in reversed(_COLUMNS):
            table.drop_column(name)
