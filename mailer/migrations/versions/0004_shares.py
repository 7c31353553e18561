"""shares: the share records and the share opt-outs

Revision ID: 0004_shares
Revises: 0001_initial
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "0004_shares"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("recipient_hash", sa.String(length=64), nullable=True),
        sa.Column("sender_hash", sa.String(length=64), nullable=True),
        sa.Column("client_hash", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
    )
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shares_article_id"), ["article_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shares_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_shares_recipient_created", ["recipient_hash", "created_at"], unique=False)
        batch_op.create_index("ix_shares_outcome_created", ["outcome", "created_at"], unique=False)

    op.create_table(
        "share_optouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_optouts")),
        sa.UniqueConstraint("address_hash", name=op.f("uq_share_optouts_address_hash")),
    )


def downgrade() -> None:
    op.drop_table("share_optouts")
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index("ix_shares_outcome_created")
        batch_op.drop_index("ix_shares_recipient_created")
        batch_op.drop_index(batch_op.f("ix_shares_created_at"))
        batch_op.drop_index(batch_op.f("ix_shares_article_id"))
    op.drop_table("shares")
