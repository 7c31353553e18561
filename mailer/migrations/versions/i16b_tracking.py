"""privacy-first analytics (issue 16, part B): click and open counts per edition, article and
audience (readers apart from machines), and the per-reader trail kept only when
``MAILER_TRACKING=per_reader``

Revision ID: i16b_tracking
Revises: i13_hostile_input
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "i16b_tracking"
down_revision: str | None = "i16c_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_counts",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", mailer.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["edition_id"], ["editions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("edition_id", "article_id", "kind", "audience"),
    )
    op.create_table(
        "reader_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("created_at", mailer.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["edition_id"], ["editions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reader_events", schema=None) as batch_op:
        batch_op.create_index("ix_reader_events_edition", ["edition_id", "kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_reader_events_subscriber_id"), ["subscriber_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reader_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reader_events_subscriber_id"))
        batch_op.drop_index("ix_reader_events_edition")
    op.drop_table("reader_events")
    op.drop_table("tracking_counts")
