"""The sender is only the loop: claim a batch, compose its bytes, send, classify, record.

Over 400 lines because composing a batch (``_prepare``, ``_digest``) sits beside the loop that
sends it; the journal, the breaker and the outbox's SQL are in their own modules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.compose import tracking
from mailer.compose.message import Personal, build_message, to_bytes
from mailer.compose.render import Renderer
from mailer.compose.variants import TemplateCache
from mailer.core import message_ids, metrics
from mailer.core.db import Database, utcnow
from mailer.core.headers import Identity
from mailer.core.models import Edition
from mailer.core.offload import off_loop
from mailer.core.settings import Settings
from mailer.delivery import breaker, journal, outbox, verp
from mailer.delivery.dkim import SigningPool
from mailer.delivery.journal import Journal
from mailer.delivery.outbox import Claimed, Result
from mailer.delivery.outcomes import REFUSALS_TO_PAUSE, Outcome, Verdict
from mailer.delivery.transport import Transport
from mailer.editions.planning import variant_key
from subscribers import flows, suppression, tokens
from subscribers.bounces import Target
from subscribers.bounces import record as record_bounce
from subscribers.models import Subscriber, SubscriberSection

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def worker_name(label: str | None = None) -> str:
    """``host:pid``, or ``label@host:pid``: a lease names its process, so a process of this host
    that is gone can have its rows taken over at once (``journal.gone``)."""
    here = f"{socket.gethostname()}:{os.getpid()}"
    return f"{label}@{here}" if label else here


@dataclass(frozen=True)
class Prepared:
    row: Claimed
    data: bytes | None = None
    skip_reason: str | None = None
    canonical: bool = False  # CRLF only, no line starting with "." (MessageTemplate's bytes)


class _Recipient(NamedTuple):
    id: int
    name: str | None
    status: str
    sections: frozenset[int]
    link_key: str | None


@dataclass
class _Batch:
    rows: list[Claimed]
    prepared: list[Prepared]
    renewal: asyncio.Task[None]  # renews the rows' lease until they have been sent
    started: float = field(default_factory=time.monotonic)


def _editions_sent(ids: list[int]) -> None:
    for edition_id in ids:
        log.info("edition %s sent", edition_id, extra={"event": "edition", "edition_id": edition_id, "status": "sent"})


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


SIGN_CHUNK = 32  # messages per trip to a signing worker
LANES_A_CONNECTION = 2  # one message ending its DATA, the next one's envelope written behind it


class Sender:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        transport: Transport,
        renderer: Renderer,
        *,
        owner: str | None = None,
        clock: Clock = utcnow,
        signing: SigningPool | None = None,
        answered: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.answered = answered  # waits for requests answered but not yet enqueued (see core/later.py)
        self.settings = settings
        self.transport = transport
        self.renderer = renderer
        self.owner = owner or worker_name()
        self.clock = clock
        self.signing = signing
        self.templates = TemplateCache(settings, renderer)
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.lifetime = timedelta(hours=settings.retry_lifetime_hours)
        self.journal = Journal(settings.data_dir / "journal", self.owner, settings.journal_fsync_seconds)
        self._unrecorded = 0  # batches sent (or being sent) but not yet recorded

    async def run_batch(self) -> Counter[str]:
        """One claim-send-record round; returns what happened to each claimed row."""
        batch = await self._claim()
        if batch is None:
            await self.settle()
            return Counter()
        return await self._deliver(batch)

    async def drain(
        self,
        progress: Callable[[Counter[str]], None] | None = None,
        *,
        until: Callable[[], bool] | None = None,
        edition_id: int | None = None,
    ) -> Counter[str]:
        """Send until nothing is due (of ``edition_id`` alone, when given), or ``until()`` says
        so between batches; returns the totals.

        The next batch is claimed and prepared while the current one is being sent, so the SMTP
        connections never wait for the database. Its rows are not sent before the current batch
        is recorded, and each accepted message is in the journal: what a crash can repeat is
        what was on the connections."""
        totals: Counter[str] = Counter()
        if self.answered is not None:
            await self.answered()
        upcoming: asyncio.Task[_Batch | None] | None = asyncio.create_task(self._claim(edition_id))
        try:
            while upcoming is not None:
                batch = await upcoming
                upcoming = None
                if batch is None:
                    await self.settle()
                    break
                if until is None or not until():
                    upcoming = asyncio.create_task(self._claim(edition_id))
                counts = await self._deliver(batch)
                totals.update(counts)
                if progress is not None:
                    progress(counts)
        finally:
            if upcoming is not None:  # an error or a cancellation: give the claimed rows back
                await self._abandon(upcoming)
        return totals

    async def _claim(self, edition_id: int | None = None) -> _Batch | None:
        """Claim a batch, start renewing its lease, and compose its messages."""
        with contextlib.suppress(OSError):  # writing it is best effort; _journal logs failures
            self.journal.open()  # before holding rows: their recovery reads which ones were started
        async with self.db.writing() as session:
            claimed = await outbox.claim(
                session, self.owner, self.clock(), lease=self.lease, limit=self.settings.send_batch_size,
                edition_id=edition_id,
            )
        if not claimed:
            return None
        renewal = asyncio.create_task(self._renew(claimed))
        try:
            async with self.db.transaction() as session:
                prepared = await self._prepare(session, claimed)
        except BaseException:
            await _stop(renewal)
            raise
        return _Batch(claimed, prepared, renewal)

    async def _deliver(self, batch: _Batch) -> Counter[str]:
        """Send a claimed batch, then record every outcome in one transaction.

        Whatever fails while sending (a lane, the signing processes, a cancellation), the rows
        that got a reply are recorded with it and the rows never attempted are given back; then
        the failure is raised."""
        self._unrecorded += 1
        try:
            try:
                results, failure = await self._send_all(batch.prepared)
            finally:
                await _stop(batch.renewal)
            replied = {r.row.id for r in results}
            async with self.db.writing() as session:
                now = self.clock()
                written = await outbox.record(session, self.owner, results, now, lifetime=self.lifetime)
                await outbox.release(session, self.owner, [r for r in batch.rows if r.id not in replied])
                for edition_id in await breaker.note(session, results):
                    log.error("edition %s paused: the message was refused %d times in a row",
                              edition_id, REFUSALS_TO_PAUSE,
                              extra={"event": "edition", "edition_id": edition_id, "status": "paused"})
                await self._bounces(session, written, now)
                finished = await outbox.finish_editions(session, now)
        finally:
            self._unrecorded -= 1
        if not self._unrecorded:
            self.journal.settled()  # every accepted message so far is in the database
        counts = Counter(
            (r.skip_reason and "skipped") or (r.outcome.verdict.value if r.outcome else "?") for r in results
        )
        self._report(batch, results, counts, finished)
        if failure is not None:
            raise failure
        return counts

    def _report(self, batch: _Batch, results: list[Result], counts: Counter[str], finished: list[int]) -> None:
        """One log line per batch and per edition finished; this process's counters."""
        seconds = time.monotonic() - batch.started
        for result in results:
            if result.outcome is not None:
                metrics.SMTP_REPLIES.labels(metrics.reply_class(result.outcome.code)).inc()
        metrics.BATCHES.inc()
        metrics.BATCH_SECONDS.observe(seconds)
        log.info("batch of %d rows in %.2f s: %s", len(results), seconds,
                 ", ".join(f"{n} {what}" for what, n in sorted(counts.items())),
                 extra={"event": "batch", "worker": self.owner, "rows": len(results),
                        "seconds": round(seconds, 3), "outcomes": dict(counts)})
        _editions_sent(finished)

    async def _abandon(self, upcoming: asyncio.Task[_Batch | None]) -> None:
        """A batch claimed ahead that will not be sent goes back in line now, not when its lease
        expires (if the database can be reached; else recovery puts it back later)."""
        try:
            batch = await upcoming  # let the claim finish: cancelled half-way, its rows would wait
        except Exception:  # the claim failed: nothing to give back
            return
        if batch is None:
            return
        await _stop(batch.renewal)
        try:
            async with self.db.writing() as session:
                await outbox.release(session, self.owner, batch.rows)
        except Exception:
            log.warning("could not give back %d claimed rows; they return when their lease expires",
                        len(batch.rows), exc_info=True)

    async def settle(self) -> None:
        # Two workers finishing their last batches at once each see the other's rows still
        # "sending" and neither marks the edition sent; an idle worker settles it.
        async with self.db.writing() as session:
            finished = await outbox.finish_editions(session, self.clock())
        _editions_sent(finished)

    async def recover(self) -> outbox.Recovered:
        """Take back the rows of workers that died: at once those of a process of this host that
        is gone, the others when their lease expires. The journals are read first: a row the
        server had accepted is recorded sent, the rest go back in line (poison rows dead)."""
        directory = self.journal.directory
        found = await asyncio.to_thread(journal.read, directory)
        accepted = {(e.row_id, e.attempt, e.owner) for e in found.accepted}

        def untried(row_id: int, attempt: int, owner: str) -> bool:
            return found.kept_by(owner) and journal.Entry(row_id, attempt, owner) not in found.started

        async with self.db.writing() as session:
            now = self.clock()
            gone = {owner for owner in await outbox.lease_owners(session) if journal.gone(owner)}
            recovered = await outbox.recover_expired(session, now, gone=gone, accepted=accepted, untried=untried)
            finished = await outbox.finish_editions(session, now) if recovered.dead or recovered.sent else []
            holding = await outbox.lease_owners(session)
        await asyncio.to_thread(journal.remove_gone, directory, holding)
        _editions_sent(finished)
        if recovered.pending or recovered.dead or recovered.sent:
            log.warning("recovered %d rows of workers that died (%d already accepted by the server, "
                        "%d dead-lettered)", recovered.pending + recovered.sent, recovered.sent, recovered.dead)
        return recovered

    async def close(self) -> None:
        await self.journal.close()

    async def _renew(self, rows: list[Claimed]) -> None:
        """Renew the batch's lease every third of it until it has been sent."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.db.writing() as session:
                    await outbox.renew(session, self.owner, rows, self.clock(), lease=self.lease)
            except Exception:  # the next try may work; the batch itself must go on
                log.warning("could not renew the lease of %d rows", len(rows), exc_info=True)

    async def _bounces(self, session: AsyncSession, written: list[tuple[Result, str]], now: datetime) -> None:
        """A 5xx reply is a hard bounce for the subscriber (scored like a DSN)."""
        for result, status in written:
            outcome = result.outcome
            if status == "failed" and outcome is not None and outcome.verdict is Verdict.FAILED:
                target = Target(result.row.recipient, result.row.subscriber_id, result.row.id)
                await record_bounce(session, self.settings, target, "hard", now, source="smtp",
                                     detail=f"{outcome.code} {outcome.message}")

    async def _send_all(self, prepared: list[Prepared]) -> tuple[list[Result], BaseException | None]:
        """Send a batch in order, so urgent rows go first, over two lanes a pooled connection (the
        second lane's envelope is pipelined behind the first's end, see ``SMTPTransport``); DKIM
        signatures are made in chunks off the event loop, ahead of the lanes. Each accepted
        message goes into the journal at once.

        Returns the results of the rows that were answered (or skipped), and the failure that
        stopped the lanes, if one did: after it the lanes finish the message they are sending
        and start no other. An edition refused ``REFUSALS_TO_PAUSE`` times in a row in the batch
        gets no more tries in it (the breaker pauses it when the batch is recorded)."""
        results: list[Result | None] = [None] * len(prepared)
        signed = self._sign_ahead(prepared)
        # VERP: the envelope sender names the row, so a bounce names its recipient
        keyring, base = self.settings.keyring, self.settings.return_path
        order = iter(range(len(prepared)))
        debug = log.isEnabledFor(logging.DEBUG)  # asked once a batch, not once a message
        failures: list[BaseException] = []
        refused: Counter[int] = Counter()  # edition -> refusals in a row in this batch

        async def send(i: int) -> None:
            item = prepared[i]
            data = item.data
            assert data is not None
            if i in signed:
                chunk, offset = signed[i]
                data = (await chunk)[offset]
            sender = verp.address(keyring, base, item.row.id)
            with contextlib.suppress(OSError):  # only makes a recovery count the row as tried
                self.journal.started(item.row.id, item.row.attempts)
            try:
                outcome = await self.transport.send(sender, item.row.recipient, data, canonical=item.canonical)
            except Exception as exc:  # the message may or may not have gone: unknown, not lost
                results[i] = Result(item.row, outcome=Outcome(Verdict.UNKNOWN, None, f"error in the sender: {exc!r}"))
                raise
            results[i] = Result(item.row, outcome=outcome)
            if outcome.verdict is Verdict.SENT:
                await self._journal(item.row)
            if debug:
                log.debug("outbox %s to %s: %s", item.row.id, item.row.recipient, outcome)
            edition = item.row.edition_id or 0
            if outcome.verdict is Verdict.REFUSED:
                refused[edition] += 1
            elif outcome.verdict is Verdict.SENT:
                refused[edition] = 0

        async def lane() -> None:
            for i in order:
                if failures:
                    return
                item = prepared[i]
                if item.data is None:
                    results[i] = Result(item.row, skip_reason=item.skip_reason or "nothing to send")
                elif not item.row.edition_id or refused[item.row.edition_id] < REFUSALS_TO_PAUSE:
                    try:
                        await send(i)
                    except Exception as exc:
                        failures.append(exc)
                        return

        lanes = [asyncio.create_task(lane()) for _ in range(min(LANES_A_CONNECTION * self.settings.smtp_pool_size,
                                                                    len(prepared)))]
        try:
            await asyncio.gather(*lanes)
        except BaseException as exc:  # cancelled: the lanes stop where they are
            failures.append(exc)
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
        finally:
            for chunk in {chunk for chunk, _ in signed.values()}:
                chunk.cancel()
        return [r for r in results if r is not None], (failures[0] if failures else None)

    async def _journal(self, row: Claimed) -> None:
        try:
            await self.journal.accepted(row.id, row.attempts)
        except OSError:  # the message went out; only a crash before the batch is recorded repeats it
            log.exception("could not write the delivery journal %s", self.journal.path)

    def _sign_ahead(self, prepared: list[Prepared]) -> dict[int, tuple[asyncio.Future[list[bytes]], int]]:
        """Start signing every message of the batch, a chunk per trip to a signing worker; maps
        a message's index to its chunk and its place in it."""
        if self.signing is None:
            return {}
        timestamp = int(self.clock().timestamp())
        todo = [i for i, p in enumerate(prepared) if p.data is not None]
        where: dict[int, tuple[asyncio.Future[list[bytes]], int]] = {}
        for start in range(0, len(todo), SIGN_CHUNK):
            indexes = todo[start : start + SIGN_CHUNK]
            messages = [prepared[i].data or b"" for i in indexes]
            canonical = all(prepared[i].canonical for i in indexes)
            chunk = asyncio.ensure_future(self.signing.sign_many(messages, timestamp, canonical=canonical))
            where.update((i, (chunk, offset)) for offset, i in enumerate(indexes))
        return where

    async def _prepare(self, session: AsyncSession, rows: list[Claimed]) -> list[Prepared]:
        # right before sending: the suppression list and the subscriber's status, for every kind
        blocked = await suppression.reasons(session, {r.recipient for r in rows})
        recipients = await _recipients(session, {r.subscriber_id for r in rows if r.subscriber_id})
        editions = {
            e.id: e
            for e in await session.scalars(
                select(Edition).where(Edition.id.in_({r.edition_id for r in rows if r.edition_id}))
            )
        }
        present = {eid: await self.templates.sections(session, eid) for eid in editions}
        prepared = []
        for row in rows:
            reason = blocked.get(row.recipient)
            recipient = recipients.get(row.subscriber_id or 0)
            if reason is not None and suppression.blocks(reason, row.kind):
                prepared.append(Prepared(row, skip_reason="suppressed"))
            elif row.subscriber_id is not None and row.kind in flows.RECEIVES and recipient is None:
                prepared.append(Prepared(row, skip_reason="subscriber removed"))
            elif recipient is not None and not flows.may_receive(row.kind, recipient.status):
                prepared.append(Prepared(row, skip_reason=f"subscriber is {recipient.status}"))
            elif row.payload is not None:
                prepared.append(Prepared(row, data=row.payload))
            elif row.edition_id is None or row.edition_id not in editions:
                prepared.append(Prepared(row, skip_reason="no content"))
            else:
                prepared.append(
                    await self._digest(session, row, editions[row.edition_id], recipient, present[row.edition_id])
                )
        return prepared

    async def _digest(
        self,
        session: AsyncSession,
        row: Claimed,
        edition: Edition,
        recipient: _Recipient | None,
        present: frozenset[int | None],
    ) -> Prepared:
        if recipient is None:
            return Prepared(row, skip_reason="subscriber removed")
        key = variant_key(recipient.sections, present)
        if not key:
            return Prepared(row, skip_reason="no articles in the chosen sections")
        keyring = self.settings.keyring
        installation = await message_ids.installation_id(session)
        personal = Personal(
            to=row.recipient,
            message_id=message_ids.local_part(keyring, installation, f"e{edition.id}.s{recipient.id}"),
            token=tokens.unsubscribe_token(keyring, recipient.id, edition.list_name, recipient.link_key),
            pref_token=tokens.preferences_token(keyring, recipient.id, recipient.link_key),
            name=recipient.name,
            reader=(tracking.reader_token(keyring, edition.id, recipient.id)
                    if self.settings.tracking == "per_reader" else ""),
        )
        if row.recipient.isascii():
            template = await self.templates.get(session, edition, key)
            return Prepared(row, data=template.personalise(personal), canonical=True)
        # an internationalised address needs SMTPUTF8 headers: the reference path, a few
        # milliseconds of MIME encoding for a large digest, so in a render thread too
        content = await self.templates.content(session, edition, key)
        identity = Identity.for_list(self.settings, edition.list_name)
        date = edition.started_at or edition.scheduled_at
        return Prepared(row, data=await off_loop(
            lambda: to_bytes(build_message(content, identity, date, personal, kind=edition.kind))))


async def _recipients(session: AsyncSession, ids: set[int]) -> dict[int, _Recipient]:
    """The subscribers of a batch with the sections each chose: two queries, plain rows."""
    if not ids:
        return {}
    chosen: dict[int, set[int]] = {}
    for sid, section in await session.execute(
        select(SubscriberSection.subscriber_id, SubscriberSection.section_id).where(
            SubscriberSection.subscriber_id.in_(ids)
        )
    ):
        chosen.setdefault(sid, set()).add(section)
    rows = await session.execute(
        select(Subscriber.id, Subscriber.name, Subscriber.status, Subscriber.link_key).where(Subscriber.id.in_(ids))
    )
    return {sid: _Recipient(sid, name, status, frozenset(chosen.get(sid, ())), key)
            for sid, name, status, key in rows}
