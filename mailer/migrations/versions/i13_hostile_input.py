"""hostile input (issue 13): the installation id of signed Message-IDs; subscribers' link keys

Subscribers from before get no link key: their links in delivered mail carry none and keep
working, and are refused once the id they name belongs to someone who has one.

Revision ID: i13_hostile_input
Revises: 0006_throughput
"""
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "i13_hostile_input"
down_revision: str | None = "0006_throughput"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    installation = op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    op.bulk_insert(installation, [
        {"id": 1, "installation_id": secrets.token_hex(5), "created_at": datetime.now(UTC)},
    ])
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_key", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("link_key")
    op.drop_table("installation")
