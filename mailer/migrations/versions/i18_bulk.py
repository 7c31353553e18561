"""the subscriber side at a million: ``confirmations.created_at`` gets an index

The subscribe form's global breaker counts the confirmation links made in the last hour, and
``mailer prune`` deletes the old ones (``created_at > since``, ``< now - interval``): without an
index each read every confirmation ever made.

Revision ID: i18_bulk
Revises: i16b_tracking
"""
from collections.abc import Sequence

from alembic import op

revision: str = "i18_bulk"
down_revision: str | None = "i16b_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.create_index("ix_confirmations_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.drop_index("ix_confirmations_created_at")
