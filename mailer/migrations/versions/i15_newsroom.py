"""newsroom: lists as data (subscriber_lists, the old frequency moved there), breaking-news
alerts (editions.kind, articles.breaking_at), articles found by their link (link keys), and the
state of polled feeds

Every subscriber keeps their choice: ``frequency`` (``daily``/``weekly``) becomes their one row
in ``subscriber_lists``, whose keys are the default lists' keys. Downgrading keeps, per
subscriber, ``weekly`` if that was one of their lists and not ``daily``, else ``daily``.

Revision ID: i15_newsroom
Revises: 0006_throughput
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db
from mailer.core.links import link_keys

revision: str = "i15_newsroom"
down_revision: str | None = "0006_throughput"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "subscriber_lists",
        sa.Column("list_name", sa.String(length=32), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"],
            name=op.f("fk_subscriber_lists_subscriber_id_subscribers"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_name", "subscriber_id", name=op.f("pk_subscriber_lists")),
    )
    op.create_index(op.f("ix_subscriber_lists_subscriber_id"), "subscriber_lists", ["subscriber_id"], unique=False)
    op.execute(
        "INSERT INTO subscriber_lists (list_name, subscriber_id) "
        "SELECT frequency, id FROM subscribers WHERE frequency IS NOT NULL"
    )
    _drop_column("subscribers", "frequency")

    # plain ALTER TABLE ... ADD COLUMN on both databases: no table is copied (see _drop_column)
    op.add_column("editions", sa.Column("kind", sa.String(length=16), server_default="digest", nullable=False))
    op.add_column("articles", sa.Column("link_key", sa.String(length=64), nullable=True))
    op.add_column("articles", sa.Column("link_base_key", sa.String(length=64), nullable=True))
    op.add_column("articles", sa.Column("breaking_at", mailer.core.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_articles_link_key"), "articles", ["link_key"], unique=False)
    op.create_index(op.f("ix_articles_link_base_key"), "articles", ["link_base_key"], unique=False)
    _backfill_link_keys()

    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("checked_at", mailer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", mailer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
        sa.UniqueConstraint("url", name=op.f("uq_feeds_url")),
    )


def _backfill_link_keys() -> None:
    """The link keys of the articles already stored, a batch at a time."""
    bind = op.get_bind()
    articles = sa.table("articles", sa.column("id", sa.Integer), sa.column("url", sa.String),
                        sa.column("link_key", sa.String), sa.column("link_base_key", sa.String))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(articles.c.id, articles.c.url).where(articles.c.id > last).order_by(articles.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        values = []
        for row_id, url in rows:
            try:
                keys = link_keys(url)
            except ValueError:  # not an http(s) link: found by its guid only
                continue
            values.append({"row_id": row_id, "full": keys.full, "base": keys.base})
        if values:
            bind.execute(
                articles.update().where(articles.c.id == sa.bindparam("row_id"))
                .values(link_key=sa.bindparam("full"), link_base_key=sa.bindparam("base")),
                values,
            )
        last = rows[-1][0]


def _drop_column(table: str, column: str) -> None:
    """The database's own ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), never Alembic's
    batch "move and copy" on SQLite: that drops the old table, and with foreign keys on, dropping
    ``subscribers`` or ``editions`` deletes (or nulls) every row that refers to them, cascading
    to subscriber_sections, confirmations, the outbox and the stored variants."""
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def downgrade() -> None:
    op.drop_table("feeds")
    op.drop_index(op.f("ix_articles_link_base_key"), "articles")
    op.drop_index(op.f("ix_articles_link_key"), "articles")
    for column in ("breaking_at", "link_base_key", "link_key"):
        _drop_column("articles", column)
    _drop_column("editions", "kind")
    op.add_column("subscribers", sa.Column("frequency", sa.String(length=16), server_default="daily", nullable=False))
    op.execute(
        "UPDATE subscribers SET frequency = 'weekly' WHERE "
        "id IN (SELECT subscriber_id FROM subscriber_lists WHERE list_name = 'weekly') AND "
        "id NOT IN (SELECT subscriber_id FROM subscriber_lists WHERE list_name = 'daily')"
    )
    op.drop_index(op.f("ix_subscriber_lists_subscriber_id"), "subscriber_lists")
    op.drop_table("subscriber_lists")
