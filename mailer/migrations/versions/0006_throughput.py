"""the claim index in the claim's order: (status, priority, id), then next_attempt_at

The claim takes the first due rows by (priority, id). With next_attempt_at before id in the
index, SQLite and PostgreSQL sorted every pending row on each claim (34 ms a claim at 100,000
pending rows, and so quadratic in the edition's size); in this order they read the first rows
of the index and stop.

Revision ID: 0006_throughput
Revises: 0005_editors
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0006_throughput"
down_revision: str | None = "0005_editors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_claim")
        batch_op.create_index("ix_outbox_claim", ["status", "priority", "id", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_claim")
        batch_op.create_index("ix_outbox_claim", ["status", "priority", "next_attempt_at", "id"], unique=False)
