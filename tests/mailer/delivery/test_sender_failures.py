"""Failures inside the sender's own process: whatever breaks in the lanes, the messages the
server accepted are recorded as sent (never sent again) and those never attempted go back."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.core.models import OutboxMessage
from mailer.core.settings import Settings
from mailer.delivery import dkim
from mailer.delivery.service import Service
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

RECIPIENTS = 640  # 20 chunks of 32 for the signing process: it dies while most are unsigned


@pytest.mark.timeout(300)
@pytest.mark.slow
async def test_a_signing_process_that_dies_loses_no_outcome_and_repeats_nothing(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, tmp_path: Path,
    clock: Clock,
) -> None:
    key_file = tmp_path / "dkim.key"
    dkim.write_key(key_file, dkim.generate_key())
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, dkim_selector="s2026",
                             dkim_key_file=key_file, dkim_processes=1, send_batch_size=RECIPIENTS)
    service = await Service(settings, clock=clock).start()
    try:
        await factories.ingest_items(service, 3, clock.now)
        async with service.db.transaction() as session:
            await factories.bulk_subscribers(
                session, factories.confirmed_rows((f"r{n:04d}@example.org" for n in range(RECIPIENTS)), clock.now))
        assert (await service.run_list("daily", clock.now)).enqueued == RECIPIENTS
        sender = service.sender
        assert sender.signing is not None
        await sender.signing.sign(b"Subject: x\r\n\r\nx\r\n")  # the signing process starts on first use
        (pid,) = sender.signing.pids

        def kill_the_signer(count: int) -> None:  # as the server takes the first message
            if count == 1:
                os.kill(pid, signal.SIGKILL)

        smtp_server.handler.on_received = kill_the_signer
        with pytest.raises(dkim.SigningFailed, match="process") as caught:
            await sender.drain()
        smtp_server.handler.on_received = None
        accepted = len(smtp_server.received)
        async with service.db.transaction() as session:
            rows = dict((await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all())
            attempts = set(await session.scalars(
                select(OutboxMessage.attempts).where(OutboxMessage.status == "pending")))
        # every message the server took is recorded sent; the others are back in line, uncounted
        assert 0 < accepted < RECIPIENTS, caught.value
        assert rows == {"sent": accepted, "pending": RECIPIENTS - accepted}
        assert attempts == {0}

        assert sender.signing.pids != [pid]  # the dead process was replaced: the same pool goes on
        assert await sender.drain() == {"sent": RECIPIENTS - accepted}
    finally:
        await service.close()
    copies = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(copies) == RECIPIENTS and set(copies.values()) == {1}  # each recipient exactly once
