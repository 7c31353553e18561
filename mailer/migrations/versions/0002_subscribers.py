"""subscribers: pending confirmations and where each subscriber's consent came from

Revision ID: 0002_subscribers
Revises: 0001_initial
Create Date: 2026-11-25 15:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "0002_subscribers"
down_revision: str | None = "0004_shares"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=32), nullable=True))

    op.create_table(
        "confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("new_email", sa.String(length=320), nullable=True),
        sa.Column("new_email_ascii", sa.String(length=320), nullable=True),
        sa.Column("created_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", mailer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"],
            name=op.f("fk_confirmations_subscriber_id_subscribers"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_confirmations_token_hash")),
    )
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_confirmations_address_hash_created_at", ["address_hash", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_confirmations_subscriber_id"), ["subscriber_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_confirmations_subscriber_id"))
        batch_op.drop_index("ix_confirmations_address_hash_created_at")
    op.drop_table("confirmations")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("source")
