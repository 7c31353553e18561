"""editors, their sessions, and who curated an edition

Revision ID: 0005_editors
Revises: 0001_initial
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "0005_editors"
down_revision: str | None = "0003_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "editors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("created_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_editors")),
        sa.UniqueConstraint("name", name=op.f("uq_editors_name")),
    )
    op.create_table(
        "editor_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("editor_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["editor_id"], ["editors.id"], name=op.f("fk_editor_sessions_editor_id_editors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_editor_sessions")),
    )
    with op.batch_alter_table("editor_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_editor_sessions_editor_id"), ["editor_id"], unique=False)
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("curated_at", mailer.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("curated_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.drop_column("curated_by")
        batch_op.drop_column("curated_at")
    with op.batch_alter_table("editor_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_editor_sessions_editor_id"))
    op.drop_table("editor_sessions")
    op.drop_table("editors")
