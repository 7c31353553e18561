"""The bounce and complaint samples under tests/data/bounces and the world they refer to: the
digest of edition 1 went to subscriber N through outbox row N (ids as in the VERP tokens). The
tokens are in the format from before key ids (``bounces+N-<16 hex>``, signed with the tests'
``SECRET``), so these samples also show that such bounces are still attributed."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path

from mailer.core import message_ids
from mailer.core.models import Edition, OutboxMessage
from mailer.delivery.service import Service
from subscribers import store

DATA = Path(__file__).resolve().parents[2] / "data" / "bounces"

SUBSCRIBERS = [  # subscriber id = position + 1 = outbox row id
    "ahmed.karim@example.org", "mailbox.full@example.net", "old.reader@example.com",
    "no.such.user@example.edu", "sara.alnajjar@gmail.com", "reader.hotmail@outlook.com",
    "qarie@yahoo.com", "gone.user@hotmail.com",
]

# file -> (kind, subscriber id it is about, how it is attributed)
EXPECTED: dict[str, tuple[str | None, int | None, str]] = {
    "postfix-hard.eml": ("hard", 1, "verp"),
    "postfix-delayed.eml": ("soft", 2, "verp"),
    "exim-hard.eml": ("hard", 3, "verp"),
    "sendmail-hard.eml": ("hard", 4, "verp"),
    "gmail-hard.eml": ("hard", 5, "verp"),
    "outlook-arf.eml": ("complaint", 6, "message-id"),
    "yahoo-arf.eml": ("complaint", 7, "verp"),
    "outlook-hard.eml": ("hard", 8, "verp"),
    "vacation-autoreply.eml": (None, None, "none"),
    "dmarc-auth-failure.eml": (None, None, "none"),
}


# what the one bounce path does with each: a mailbox that does not exist (5.1.1, 5.1.10) is
# disabled at the first bounce; any other hard or soft bounce is scored
ACTIONS: dict[str, str] = {
    "postfix-hard.eml": "disabled",  # 5.1.1 User unknown
    "postfix-delayed.eml": "counted",  # 4.2.2 Mailbox full
    "exim-hard.eml": "counted",  # 5.0.0: says nothing definite
    "sendmail-hard.eml": "disabled",  # 5.1.1
    "gmail-hard.eml": "disabled",  # 5.1.1 The email account that you tried to reach does not exist
    "outlook-arf.eml": "suppressed",
    "yahoo-arf.eml": "suppressed",
    "outlook-hard.eml": "disabled",  # 5.1.10 RecipientNotFound
    "vacation-autoreply.eml": "ignored",
    "dmarc-auth-failure.eml": "ignored",
}
TOTALS = Counter(ACTIONS.values())


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


async def as_sent(svc: Service, name: str) -> bytes:
    """The sample as a report about mail this installation sent: a quoted Message-ID
    ``<e1.sN@news.example.com>`` (the format before Message-IDs were signed, which proves nothing
    now) becomes the signed one ``svc`` gave that digest."""
    raw = sample(name)
    async with svc.db.transaction() as session:
        installation = await message_ids.installation_id(session)
    for match in set(_LEGACY_DIGEST_ID.findall(raw)):
        local = message_ids.local_part(svc.settings.keyring, installation, match.decode())
        raw = raw.replace(b"<" + match + b"@", f"<{local}@".encode())
    return raw


_LEGACY_DIGEST_ID = re.compile(rb"<(e[0-9]+\.s[0-9]+)@")


async def sent_edition(svc: Service, now: datetime) -> None:
    """Edition 1 of the daily list, sent to the eight subscribers the samples name."""
    async with svc.db.transaction() as session:
        ids = [(await store.add(session, email, now=now, status="confirmed")).id for email in SUBSCRIBERS]
        assert ids == list(range(1, len(SUBSCRIBERS) + 1))
        edition = Edition(id=1, list_name="daily", period_key="2026-11-25T07:00", scheduled_at=now,
                          status="sent", created_at=now, started_at=now, finished_at=now)
        session.add(edition)
        await session.flush()
        for sid, email in zip(ids, SUBSCRIBERS, strict=True):
            session.add(OutboxMessage(id=sid, kind="digest", edition_id=1, subscriber_id=sid, recipient=email,
                                      priority=10, status="sent", attempts=1, history="[]",
                                      next_attempt_at=now, created_at=now, sent_at=now))
