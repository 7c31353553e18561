"""production: counts kept by pruning, the shared send pace, indexes where deletes scan

``outbox_totals`` and ``event_totals`` keep the counts of the outbox rows, bounce events and share
records that ``mailer prune`` deletes, so reports and metrics stay right. ``send_pace`` holds the
next free send slot shared by every worker on PostgreSQL. ``outbox.subscriber_id`` gets an index:
deleting a subscriber sets it to NULL in every row that names them, which scanned the whole outbox.

Revision ID: i17_production
Revises: 0006_throughput
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i17_production"
down_revision: str | None = "i15_newsroom"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_totals",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("edition_id", "kind", "status", name=op.f("pk_outbox_totals")),
    )
    op.create_table(
        "event_totals",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "label", name=op.f("pk_event_totals")),
    )
    op.create_table(
        "send_pace",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("next_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_send_pace")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_subscriber_id"), ["subscriber_id"], unique=False)
    with op.batch_alter_table("bounce_events", schema=None) as batch_op:
        batch_op.create_index("ix_bounce_events_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bounce_events", schema=None) as batch_op:
        batch_op.drop_index("ix_bounce_events_created_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_subscriber_id"))
    op.drop_table("send_pace")
    op.drop_table("event_totals")
    op.drop_table("outbox_totals")
