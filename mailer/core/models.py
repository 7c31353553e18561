"""Tables of the mailing side: sections, articles, editions and the outbox."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailer.core.db import Base, UTCDateTime, utcnow

ALERT = "alert"  # the kind of a breaking-news alert: its edition and its outbox rows

# SQLite only aliases the rowid for a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Installation(Base):
    """One row (id 1), kept with the data so that every process sharing the database agrees:
    when this installation first started (catch-up never plans a period before it) and its random
    id (it goes into every Message-ID: ``mailer.core.message_ids``)."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # set by the first start
    installation_id: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(5))


class Section(Base):
    __tablename__ = "sections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SiteFact(Base):
    """What the service learnt about the news site, by name: ``channel_link`` is the home page
    that the site's feed names (the default of ``MAILER_SITE_URL``)."""

    __tablename__ = "site_facts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(1000), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    # the link's keys (mailer/core/links.py): how a share request by URL finds the article
    link_key: Mapped[str | None] = mapped_column(String(64), index=True)
    link_base_key: Mapped[str | None] = mapped_column(String(64), index=True)
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
    # set once, when the article was first marked breaking news (mailer/editions/alerts.py)
    breaking_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Edition(Base):
    """One digest of one list for one scheduled time, or one breaking-news alert of one list
    (``kind`` alert, period ``alert-{article}``); (list, period) is unique."""

    __tablename__ = "editions"
    __table_args__ = (UniqueConstraint("list_name", "period_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="digest", server_default="digest")
    list_name: Mapped[str] = mapped_column(String(32))
    period_key: Mapped[str] = mapped_column(String(64))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # draft -> sending -> sent; held waits for an editor; empty had no new articles; paused: the
    # relay refused the message itself several times in a row (an operator resumes it);
    # superseded: every article it had went out in other editions of its list
    status: Mapped[str] = mapped_column(String(16), default="draft")
    status_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # set when an editor changes the articles: from then on their choice and order are kept
    curated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    curated_by: Mapped[str | None] = mapped_column(String(64))
    # replies in a row that refused the message itself (not a mailbox): the circuit breaker
    refused_in_row: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ListArticle(Base):
    """Which edition of a list carries an article: one per (list, article), so no two editions of
    a list can send the same article, and with the outbox's one row per (edition, subscriber) an
    article reaches a subscriber at most once per list. Written when an edition starts sending."""

    __tablename__ = "list_articles"

    list_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class Feed(Base):
    """A feed the service polls: its validators for conditional GETs, and its backoff after errors."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[str | None] = mapped_column(String(32))  # fetched | not_modified | error
    last_error: Mapped[str | None] = mapped_column(Text)


class Editor(Base):
    """Someone who previews mail before it goes out; the password is kept only as an Argon2 hash."""

    __tablename__ = "editors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "editor": preview, curate, send, test; "admin": also subscribers, editors and settings
    role: Mapped[str] = mapped_column(String(16), default="editor", server_default="editor")


class EditorSession(Base):
    """A signed-in browser; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "editor_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("editors.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


_SENT = text("sent_at IS NOT NULL")  # the rows ix_outbox_sent_at holds


class OutboxMessage(Base):
    """One message to one recipient; its status only moves by compare-and-set (see outbox.py)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id"),
        Index("ix_outbox_claim", "status", "priority", "id", "next_attempt_at"),  # the claim's order
        Index("ix_outbox_edition_status", "edition_id", "status"),
        # the console's sends per day, from the index alone; only sent rows, so that claiming a row
        # does not write it (migration i18b_sent_index)
        Index("ix_outbox_sent_at", "sent_at", "status", "kind", sqlite_where=_SENT, postgresql_where=_SENT),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # digest | share | confirm | test | ...
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True  # deleting a subscriber looks here
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
    __table_args__ = (
        Index("ix_bounce_events_subscriber_day", "subscriber_id", "day"),
        Index("ix_bounce_events_created_at", "created_at"),  # pruning
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    outbox_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))  # hard | soft | complaint | refused (not counted)
    source: Mapped[str] = mapped_column(String(16))  # smtp | dsn | arf
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    day: Mapped[str] = mapped_column(String(10))  # the site's local date, YYYY-MM-DD
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxTotal(Base):
    """Counts of outbox rows that ``mailer prune`` deleted, per edition (0: one-off messages), kind
    and final status: reports and metrics add them to the rows still there."""

    __tablename__ = "outbox_totals"

    edition_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # no foreign key: 0 is "none"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class EventTotal(Base):
    """Counts of pruned records that metrics still report: bounce events by kind, share requests by
    outcome (``name`` is the table, ``label`` the kind or outcome)."""

    __tablename__ = "event_totals"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class SendPace(Base):
    """The shared send rate on PostgreSQL: the next free send slot, in seconds since the epoch of
    the database's clock, taken and moved on by one atomic statement (``delivery/limits.py``)."""

    __tablename__ = "send_pace"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_at: Mapped[float] = mapped_column(Double)


class DailyTotal(Base):
    """A closed local day's count for the console (``mailer/editor/stats.py``): messages delivered,
    readers who left, shares sent. A day that is over does not change, so it is counted once, by
    the same grouped query, and read back from here; it also outlives the pruning of the outbox."""

    __tablename__ = "daily_totals"

    zone: Mapped[str] = mapped_column(String(64), primary_key=True)  # the time zone the day is in
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    name: Mapped[str] = mapped_column(String(16), primary_key=True)  # delivered | unsubscribes | shares
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class TrackingCount(Base):
    """Clicks and opens of an edition, counted per article (0: a link that is no article, or an
    open) and per audience: ``reader`` or ``machine`` (privacy proxies, link scanners, prefetch).
    Never who: one row per (edition, article, kind, audience), bumped by one upsert a hit."""

    __tablename__ = "tracking_counts"

    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # no foreign key: 0 is "none"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # click | open
    audience: Mapped[str] = mapped_column(String(8), primary_key=True)  # reader | machine
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReaderEvent(Base):
    """Who clicked or opened what: written only with ``MAILER_TRACKING=per_reader``, which an
    admin turns on and the preferences page states. Goes with the subscriber (forget deletes it)."""

    __tablename__ = "reader_events"
    __table_args__ = (Index("ix_reader_events_edition", "edition_id", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(Integer)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # click | open
    audience: Mapped[str] = mapped_column(String(8))  # reader | machine
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
