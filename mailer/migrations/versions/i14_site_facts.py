"""site_facts: what the service learnt about the news site (the feed's channel link)

Revision ID: i14_site_facts
Revises: 0006_throughput
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "i14_site_facts"
down_revision: str | None = "i17_production"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_facts",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_site_facts")),
    )


def downgrade() -> None:
    op.drop_table("site_facts")
