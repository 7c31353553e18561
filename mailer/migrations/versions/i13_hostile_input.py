"""hostile input (issue 13): the installation id of signed Message-IDs; subscribers' link keys;
the choices a confirmation link carries; one subscriber per mailbox (case-insensitive); the form
token of each accepted share (a token makes one share)

Subscribers whose addresses differ only in case (``Ali@x`` and ``ali@x``) are one mailbox and
merged: the row whose status says the least mail (bounced, then unsubscribed, paused, confirmed,
pending; the oldest among equals) is kept, so an unsubscribe given through either address holds;
the others are deleted (their choices and pending links with them; their outbox rows and bounce
events stay, detached). Each merge is logged.

Subscribers from before get no link key: their links in delivered mail carry none and keep
working, and are refused once the id they name belongs to someone who has one.

Revision ID: i13_hostile_input
Revises: 0006_throughput
"""
import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "i13_hostile_input"
down_revision: str | None = "i12_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


log = logging.getLogger("alembic.runtime.migration")
# the status that keeps a merged mailbox: the one that says the least mail
_RESTRICTION = {"forgotten": 0, "bounced": 1, "unsubscribed": 2, "paused": 3, "confirmed": 4, "pending": 5}


def _merge_case_duplicates() -> None:
    bind = op.get_bind()
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for row_id, email, status in bind.execute(sa.text("SELECT id, email, status FROM subscribers ORDER BY id")):
        groups.setdefault(email.lower(), []).append((row_id, email, status))
    for rows in groups.values():
        if len(rows) < 2:
            continue
        kept = min(rows, key=lambda r: (_RESTRICTION.get(r[2], 0), r[0]))
        dropped = [r[0] for r in rows if r != kept]
        log.warning("subscribers %s and %s differ only in the case of their address: one mailbox, "
                    "kept %s (%s)", kept[0], dropped, kept[0], kept[2])
        for table, column in (("subscriber_sections", "subscriber_id"), ("confirmations", "subscriber_id")):
            bind.execute(sa.text(f"DELETE FROM {table} WHERE {column} IN :ids").bindparams(  # noqa: S608
                sa.bindparam("ids", expanding=True)), {"ids": dropped})
        for table in ("outbox", "bounce_events"):
            bind.execute(sa.text(f"UPDATE {table} SET subscriber_id = NULL WHERE subscriber_id IN :ids").bindparams(  # noqa: S608
                sa.bindparam("ids", expanding=True)), {"ids": dropped})
        bind.execute(sa.text("DELETE FROM subscribers WHERE id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)), {"ids": dropped})
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_key", sa.String(length=320), nullable=True))
    kept_rows = bind.execute(sa.text("SELECT id, email FROM subscribers")).all()
    if kept_rows:
        bind.execute(sa.text("UPDATE subscribers SET email_key = :key WHERE id = :id"),
                     [{"id": row_id, "key": email.lower()} for row_id, email in kept_rows])
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscribers_email_key"), ["email_key"], unique=True)


def upgrade() -> None:
    _merge_case_duplicates()
    # the installation row (i12_trust made the table with its start) gets its random id
    op.add_column("installation", sa.Column("installation_id", sa.String(length=32), nullable=True))
    bind = op.get_bind()
    made = secrets.token_hex(5)
    if bind.execute(sa.text("SELECT count(*) FROM installation WHERE id = 1")).scalar():
        bind.execute(sa.text("UPDATE installation SET installation_id = :made WHERE id = 1"), {"made": made})
    else:  # a new database: its first start will say when the installation started
        bind.execute(sa.text("INSERT INTO installation (id, installation_id) VALUES (1, :made)"), {"made": made})
    with op.batch_alter_table("installation", schema=None) as batch_op:  # nothing refers to it: safe to rebuild
        batch_op.alter_column("installation_id", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_key", sa.String(length=16), nullable=True))
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.add_column(sa.Column("form_token_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_shares_form_token_hash"), ["form_token_hash"], unique=True)
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lists", sa.String(length=600), nullable=True))
        batch_op.add_column(sa.Column("sections", sa.Text(), nullable=True))


def _drop_column(table: str, column: str) -> None:
    """The database's own ALTER TABLE ... DROP COLUMN, never Alembic's batch "move and copy" on
    SQLite: dropping the old ``subscribers`` table would cascade (foreign keys are on) to
    subscriber_sections, confirmations and the outbox."""
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def downgrade() -> None:
    op.drop_index(op.f("ix_shares_form_token_hash"), "shares")
    _drop_column("shares", "form_token_hash")
    op.drop_index(op.f("ix_subscribers_email_key"), "subscribers")
    for column in ("email_key", "link_key"):
        _drop_column("subscribers", column)
    for column in ("sections", "lists", "name"):
        _drop_column("confirmations", column)
    with op.batch_alter_table("installation", schema=None) as batch_op:  # nothing refers to it
        batch_op.drop_column("installation_id")
