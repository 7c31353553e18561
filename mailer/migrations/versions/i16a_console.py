"""the console, people side (issue 16, part A): editors' roles, subscribers' search keys, the
audit log and the import jobs

Editors who exist already become admins, so nobody is locked out of the pages they had; new
ones are editors unless added with ``--role admin``. The search keys of existing subscribers are
computed here (in batches, by id) with the same functions the models use.

Revision ID: i16a_console
Revises: i13_hostile_input
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db
from subscribers.search import email_search_key, name_search_key

revision: str = "i16a_console"
down_revision: str | None = "i13_hostile_input"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _search_key() -> sa.types.TypeEngine[str]:
    return sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql")


def _fill_search_keys() -> None:
    bind = op.get_bind()
    subscribers = sa.table("subscribers", sa.column("id", sa.Integer), sa.column("search_email", sa.String),
                           sa.column("search_name", sa.String))
    after = 0
    while rows := bind.execute(sa.text("SELECT id, email, name FROM subscribers WHERE id > :after ORDER BY id "
                                       "LIMIT :n"), {"after": after, "n": BATCH}).all():
        bind.execute(
            subscribers.update().where(subscribers.c.id == sa.bindparam("row_id"))
            .values(search_email=sa.bindparam("e"), search_name=sa.bindparam("n")),
            [{"row_id": r[0], "e": email_search_key(r[1]), "n": name_search_key(r[2])} for r in rows],
        )
        after = rows[-1][0]


def upgrade() -> None:
    # plain ADD COLUMN (no batch copy on SQLite, which would cascade to the rows referring to these)
    op.add_column("editors", sa.Column("role", sa.String(length=16), server_default="editor", nullable=False))
    op.execute("UPDATE editors SET role = 'admin'")
    op.add_column("subscribers", sa.Column("search_email", _search_key(), nullable=True))
    op.add_column("subscribers", sa.Column("search_name", _search_key(), nullable=True))
    _fill_search_keys()
    op.create_index("ix_subscribers_search_email", "subscribers", ["search_email", "id"], unique=False)
    op.create_index("ix_subscribers_search_name", "subscribers", ["search_name", "id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", mailer.core.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_subscriber_id_id", "audit_log", ["subscriber_id", "id"], unique=False)
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("existing", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("bad", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", mailer.core.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", mailer.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def _drop_column(table: str, column: str) -> None:
    """The database's own ALTER TABLE ... DROP COLUMN, never Alembic's batch "move and copy" on
    SQLite: dropping the old table would cascade (foreign keys are on) to the rows that refer to
    it (subscriber_sections, confirmations and the outbox; editor_sessions)."""
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def downgrade() -> None:
    op.drop_table("import_jobs")
    op.drop_index("ix_audit_log_subscriber_id_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_subscribers_search_name", table_name="subscribers")
    op.drop_index("ix_subscribers_search_email", table_name="subscribers")
    for table, column in (("subscribers", "search_name"), ("subscribers", "search_email"), ("editors", "role")):
        _drop_column(table, column)
