"""Tables of the mailing side: sections, articles, editions and the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailer.core.db import Base, UTCDateTime, utcnow

# SQLite only aliases the rowid for a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Installation(Base):
    """One row: this installation's random id, made by the migration and kept with the data, so
    that every process sharing the database agrees on it (it goes into every Message-ID)."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Section(Base):
    __tablename__ = "sections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(1000), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(String(1000))
    summary_html: Mapped[str] = mapped_column(Text, default="")
    summary_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(String(2000))
    image_alt: Mapped[str | None] = mapped_column(String(1000))
    author: Mapped[str | None] = mapped_column(String(300))
    section_id: Mapped[int | None] = mapped_column(ForeignKey("sections.id"))
    status: Mapped[str] = mapped_column(String(16), default="published")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Edition(Base):
    """One digest of one list for one scheduled time; (list, period) is unique."""

    __tablename__ = "editions"
    __table_args__ = (UniqueConstraint("list_name", "period_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_name: Mapped[str] = mapped_column(String(32))
    period_key: Mapped[str] = mapped_column(String(64))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # draft -> sending -> sent; held waits for an editor; empty had no new articles
    status: Mapped[str] = mapped_column(String(16), default="draft")
    status_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # set when an editor changes the articles: from then on their choice and order are kept
    curated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    curated_by: Mapped[str | None] = mapped_column(String(64))


class EditionArticle(Base):
    __tablename__ = "edition_articles"

    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)


class EditionVariant(Base):
    """The rendered, CSS-inlined content of one variant, stored so every worker sends the same."""

    __tablename__ = "edition_variants"
    __table_args__ = (UniqueConstraint("edition_id", "variant_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    variant_key: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Editor(Base):
    """Someone who previews mail before it goes out; the password is kept only as an Argon2 hash."""

    __tablename__ = "editors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EditorSession(Base):
    """A signed-in browser; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "editor_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("editors.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """One message to one recipient; its status only moves by compare-and-set (see outbox.py)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id"),
        Index("ix_outbox_claim", "status", "priority", "id", "next_attempt_at"),  # the claim's order
        Index("ix_outbox_edition_status", "edition_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # digest | share | confirm | test | ...
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    recipient: Mapped[str] = mapped_column(String(320))
    priority: Mapped[int] = mapped_column(Integer, default=10)  # lower goes first
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    recoveries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # expired leases
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    history: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of attempts
    message_id: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)  # one-off messages, pre-composed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShareRecord(Base):
    """One "send to a friend" request and what became of it: the audit trail that the per-recipient
    and global limits are counted from. Addresses are kept only as hashes; ``article_id`` has no
    foreign key because a refused request may name an article that does not exist."""

    __tablename__ = "shares"
    __table_args__ = (
        Index("ix_shares_recipient_created", "recipient_hash", "created_at"),
        Index("ix_shares_outcome_created", "outcome", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int | None] = mapped_column(Integer, index=True)
    recipient_hash: Mapped[str | None] = mapped_column(String(64))
    sender_hash: Mapped[str | None] = mapped_column(String(64))
    client_hash: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))  # "queued", or the reason it was refused
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # the SHA-256 of the form token of an accepted share: a token makes one share
    form_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)


class ShareOptOut(Base):
    """An address that asked never to receive shared articles, kept only as a hash."""

    __tablename__ = "share_optouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BounceEvent(Base):
    """One bounce or complaint, as reported by the SMTP reply, a DSN or an ARF report.

    ``counted`` marks the event that scored for its subscriber that day (at most one a day)."""

    __tablename__ = "bounce_events"
    __table_args__ = (Index("ix_bounce_events_subscriber_day", "subscriber_id", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    outbox_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))  # hard | soft | complaint
    source: Mapped[str] = mapped_column(String(16))  # smtp | dsn | arf
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    day: Mapped[str] = mapped_column(String(10))  # the site's local date, YYYY-MM-DD
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
