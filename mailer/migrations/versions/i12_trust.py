"""an article once per list (list_articles), the installation's start, the refusal breaker

``list_articles`` is filled from the editions already sending or sent, the earliest edition
first, so articles that went out before the upgrade are never sent again in the same list. The
installation starts at its oldest edition, article or subscriber; on a new database the first
start writes it.

Revision ID: i12_trust
Revises: 0006_throughput
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.core.db

revision: str = "i12_trust"
down_revision: str | None = "i14_site_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "list_articles",
        sa.Column("list_name", sa.String(length=32), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", mailer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], name=op.f("fk_list_articles_article_id_articles")),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["editions.id"], name=op.f("fk_list_articles_edition_id_editions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("list_name", "article_id", name=op.f("pk_list_articles")),
    )
    with op.batch_alter_table("list_articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_list_articles_edition_id"), ["edition_id"], unique=False)
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installed_at", mailer.core.db.UTCDateTime(timezone=True), nullable=True),  # until the first start
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    # not in batch mode: on SQLite a batch rebuilds the table, and dropping the old one would
    # cascade to edition_articles and edition_variants (foreign keys are on)
    op.add_column("editions", sa.Column("refused_in_row", sa.Integer(), server_default="0", nullable=False))

    # the earliest sending or sent edition of a list carries each article it sent
    op.execute(
        """
        INSERT INTO list_articles (list_name, article_id, edition_id, claimed_at)
        SELECT e.list_name, ea.article_id, MIN(e.id), MIN(COALESCE(e.started_at, e.created_at))
        FROM edition_articles ea JOIN editions e ON e.id = ea.edition_id
        WHERE NOT ea.excluded AND e.status IN ('sending', 'sent')
        GROUP BY e.list_name, ea.article_id
        """
    )
    op.execute(
        """
        INSERT INTO installation (id, installed_at)
        SELECT 1, MIN(t) FROM (
            SELECT MIN(created_at) AS t FROM editions
            UNION ALL SELECT MIN(created_at) FROM articles
            UNION ALL SELECT MIN(created_at) FROM subscribers
        ) AS oldest
        HAVING MIN(t) IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_column("editions", "refused_in_row")  # SQLite 3.35+ drops a column in place
    op.drop_table("installation")
    with op.batch_alter_table("list_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_articles_edition_id"))
    op.drop_table("list_articles")
