"""list_counts: confirmed subscribers per list and local day (the console's dashboard);
daily_totals: the counts of closed days; indexes for counting sends and unsubscribes per day

Revision ID: i16c_dashboard
Revises: i13_hostile_input
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "i16c_dashboard"
down_revision: str | None = "i16a_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "list_counts",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("list_name", sa.String(length=32), nullable=False),
        sa.Column("subscribers", sa.Integer(), nullable=False),
        sa.Column("taken_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "list_name", name=op.f("pk_list_counts")),
    )
    op.create_table(
        "daily_totals",
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("zone", "day", "name", name=op.f("pk_daily_totals")),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at", "status", "kind"], unique=False)
    op.create_index(op.f("ix_subscribers_unsubscribed_at"), "subscribers", ["unsubscribed_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_subscribers_unsubscribed_at"), table_name="subscribers")
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_table("daily_totals")
    op.drop_table("list_counts")
