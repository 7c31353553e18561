"""ix_outbox_sent_at holds only rows that were sent (``WHERE sent_at IS NOT NULL``)

The index serves the console's sends per day, which always ask for a range of ``sent_at``. Holding
every row, it was written twice for each message besides: when the row was claimed (its status
changed while ``sent_at`` was still empty) and when it was recorded. Now only the record writes it.

Revision ID: i18b_sent_index
Revises: i18_bulk
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i18b_sent_index"
down_revision: str | None = "i18_bulk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SENT = sa.text("sent_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at", "status", "kind"], unique=False,
                    sqlite_where=_SENT, postgresql_where=_SENT)


def downgrade() -> None:
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at", "status", "kind"], unique=False)
