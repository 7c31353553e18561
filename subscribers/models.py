"""Tables of the subscriber side: subscribers, their lists and sections, pending confirmations and
the suppression list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from mailer.core.db import Base, UTCDateTime, utcnow
from subscribers.addresses import mailbox_key
from subscribers.search import email_search_key, name_search_key
from subscribers.tokens import new_link_key

STATUSES = ("pending", "confirmed", "paused", "unsubscribed", "bounced", "forgotten")
# the console's prefix search compares bytes: PostgreSQL's "C" collation gives a B-tree index the
# same order as SQLite's BINARY one, so ``key >= 'ab' AND key < 'ac'`` is one index range on both
SearchKey = String(200).with_variant(String(200, collation="C"), "postgresql")
PURPOSES = ("subscribe", "address")  # what a confirmation confirms


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # email-validator's normalised form
    # one subscriber per mailbox: the address compared without case (addresses.mailbox_key),
    # kept in step with ``email`` by ``_email_key`` below (never NULL; nullable in the schema
    # only because SQLite cannot make an added column NOT NULL without copying the table)
    email_key: Mapped[str | None] = mapped_column(String(320), unique=True, index=True)
    email_ascii: Mapped[str | None] = mapped_column(String(320))  # IDNA form; None needs SMTPUTF8
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # console: per day
    bounce_score: Mapped[int] = mapped_column(Integer, default=0)
    last_bounce_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    no_shares: Mapped[bool] = mapped_column(Boolean, default=False)
    # where the consent came from: form | import | import-confirmed | operator (kept as evidence)
    source: Mapped[str | None] = mapped_column(String(32))
    # mixed into every link token, so a link never acts on a later subscriber who gets the same
    # id (see subscribers/tokens.py); None only for subscribers from before link keys
    link_key: Mapped[str | None] = mapped_column(String(16), default=new_link_key)
    # normalised forms for the console's prefix search (subscribers/search.py), kept in step
    # with ``email`` and ``name`` below; indexed with the id for keyset pages
    search_email: Mapped[str | None] = mapped_column(SearchKey)
    search_name: Mapped[str | None] = mapped_column(SearchKey)

    __table_args__ = (
        Index("ix_subscribers_search_email", "search_email", "id"),
        Index("ix_subscribers_search_name", "search_name", "id"),
    )

    @validates("email")
    def _email_key(self, _key: str, email: str) -> str:
        self.email_key = mailbox_key(email)
        self.search_email = email_search_key(email)
        return email

    @validates("name")
    def _name_key(self, _key: str, name: str | None) -> str | None:
        self.search_name = name_search_key(name)
        return name


class SubscriberList(Base):
    """A newsletter a subscriber takes (a key of the settings' lists); several are allowed.
    The primary key starts with the list: an edition's recipients are one index range."""

    __tablename__ = "subscriber_lists"

    list_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SubscriberSection(Base):
    """A section a subscriber chose; none chosen means every section."""

    __tablename__ = "subscriber_sections"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    section_id: Mapped[int] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), primary_key=True
    )


class Suppression(Base):
    """An address never to be mailed again, kept only as a hash (see suppression.py)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))  # unsubscribe | hard_bounce | complaint | forget | ...
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Confirmation(Base):
    """A single-use confirmation link sent by mail: only the SHA-256 of its token is stored, so a
    copy of the database cannot confirm anything. ``address_hash`` is the address the mail went to
    (the new one for an address change), for the one-mail-per-interval limit."""

    __tablename__ = "confirmations"
    __table_args__ = (
        Index("ix_confirmations_address_hash_created_at", "address_hash", "created_at"),
        Index("ix_confirmations_created_at", "created_at"),  # the subscribe breaker counts the last hour's
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    new_email: Mapped[str | None] = mapped_column(String(320))  # purpose "address" only
    new_email_ascii: Mapped[str | None] = mapped_column(String(320))
    # purpose "subscribe": the choices of the request that asked for this link, applied when it
    # is used, so that nobody but the mailbox's owner sets a pending subscriber's choices
    name: Mapped[str | None] = mapped_column(String(200))
    lists: Mapped[str | None] = mapped_column(String(600))  # list keys, comma-separated
    sections: Mapped[str | None] = mapped_column(Text)  # section ids, comma-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who changed which subscriber from the console, and how. ``detail`` never holds an address
    (an erased person must not live on here); ``subscriber_id`` stays after an erasure."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subscriber_id_id", "subscriber_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))  # the editor's login name
    action: Mapped[str] = mapped_column(String(32))  # see subscribers.audit.ACTIONS
    subscriber_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: outlives erasure
    detail: Mapped[str] = mapped_column(String(500), default="")


class ImportJob(Base):
    """A CSV import started in the console: its counts, updated as it runs, and its per-line
    problems (JSON: line, field, Arabic message)."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200), default="")
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    existing: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    bad: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[str] = mapped_column(Text, default="[]")
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ListCount(Base):
    """How many confirmed subscribers a list had on a local day (``YYYY-MM-DD`` in the site's time
    zone): a snapshot the scheduler takes through the day (``subscribers.history``), since
    ``subscriber_lists`` keeps no dates. The console's dashboard draws it."""

    __tablename__ = "list_counts"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    list_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscribers: Mapped[int] = mapped_column(Integer, default=0)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
