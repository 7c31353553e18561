"""What ``POST /subscribe`` does after its answer, many requests at a time, and the global breaker
it checks before answering.

The requests' wishes wait in a queue (``Later.batches``); one task takes everything waiting and
handles it in one transaction (``flows.subscribe_many``: a few statements for the whole batch,
and each outcome as if the requests had come one after the other), with the confirmation mails
made in one trip to the render thread and enqueued in that same transaction. While a batch is
being written, the next one gathers: under load a commit carries tens of subscriptions, alone it
carries one. A batch that fails (another worker added one of its mailboxes first, or anything
else) is done again one request at a time, so one bad request costs nobody else their mail; a
batch that cannot reach the database waits for it (``OUTAGE``) before that.
The queue is in memory like the tasks before it, and bounded (``BACKLOG``): ``Service.close``
(and so a stopping process) waits until it is empty; a killed process loses what was waiting
(at most ``LINGER`` plus one batch's time under normal load), as it did.

The breaker counts the confirmation links made in the last hour by every worker. Counting them
in the database for every request costs a scan of the hour's links; the count is read at most
once a second (``FRESH``) and this process adds its own links as it makes them, so within one
process it is exact, and another worker's links are seen within a second. The same count caps
the links of each batch, so the mails never exceed the limit even when many requests were
answered while it was still open."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import unreachable
from mailer.delivery.notifier import Notifier
from mailer.delivery.outcomes import backoff
from mailer.delivery.service import Service
from subscribers import flows
from subscribers.flows import Notice

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
FRESH = timedelta(seconds=1)  # how old the breaker's count of links may be
BATCH = 200  # subscriptions in one transaction at most
# how long the first request of a batch waits for others: a commit, a statement and a drain of
# the outbox per batch, not per request (under load, tens a batch instead of one or two)
LINGER = 0.05
# requests answered but not yet done, at most: past that a request waits for room before its
# answer (every request alike, whatever its address), so a flood slows down instead of piling up
BACKLOG = 2000
# how long a batch waits for a database that cannot be reached (a restart, a fail-over) before its
# requests are tried one at a time and, failing, lost; meanwhile the backlog fills and then slows
# the answers down
OUTAGE = 120.0
OUTAGE_FIRST_PAUSE, OUTAGE_LONGEST_PAUSE = timedelta(seconds=0.5), timedelta(seconds=10)  # doubling in between


class Subscriptions:
    """The queue of subscribe requests answered but not yet done, and the breaker's count."""

    def __init__(self, service: Service, notifier: Notifier) -> None:
        self.service = service
        self.notifier = notifier
        self._queue = service.later.batches(self._handle, "subscribe requests", most=BATCH, linger=LINGER)
        self._links: tuple[int, datetime] | None = None  # links in the hour before, read at
        self._counting = asyncio.Lock()

    async def add(self, wish: flows.Request) -> None:
        """Do ``wish`` after the answer, with whatever else is waiting (once there is room)."""
        await self._queue.room(BACKLOG)
        self._queue.add(wish)

    async def links_in_hour(self, now: datetime, session: AsyncSession | None = None) -> int:
        """Confirmation links made in the hour before ``now`` by every worker, read from the
        database when the count is older than ``FRESH``."""
        async with self._counting:
            if self._links is None or not self._links[1] <= now < self._links[1] + FRESH:
                if session is None:
                    async with self.service.db.transaction() as own:
                        count = await flows.confirmations_since(own, now - HOUR)
                else:
                    count = await flows.confirmations_since(session, now - HOUR)
                self._links = (count, now)
            return self._links[0]

    def _made(self, links: int) -> None:
        if self._links is not None:
            self._links = (self._links[0] + links, self._links[1])

    async def _handle(self, wishes: list[flows.Request]) -> None:
        try:
            await self._write_when_reachable(wishes)
        except Exception:
            if len(wishes) == 1:
                raise
            # another worker's request for one of these mailboxes added it first (IntegrityError),
            # or one request cannot be done: each on its own, so the others are not lost with it
            log.info("a batch of %d subscriptions failed; one at a time", len(wishes), exc_info=True)
            for wish in wishes:
                for attempt in (1, 2):
                    try:
                        await self._write([wish])
                        break
                    except Exception:
                        if attempt == 2:
                            log.exception("subscribe request failed after its answer")
        self.service.woken()

    async def _write_when_reachable(self, wishes: list[flows.Request]) -> None:
        """``_write``, tried again while the database cannot be reached, up to ``OUTAGE``
        seconds: the requests were answered, so they wait for it rather than being lost."""
        waited = 0.0
        for attempt in itertools.count(1):
            try:
                return await self._write(wishes)
            except Exception as exc:
                if not unreachable(exc) or waited >= OUTAGE:
                    raise
                pause = backoff(attempt, first=OUTAGE_FIRST_PAUSE, ceiling=OUTAGE_LONGEST_PAUSE).total_seconds()
                log.warning("cannot reach the database (%s): %d subscribe requests wait %.1f s and try again",
                            exc, len(wishes), pause)
            await asyncio.sleep(pause)
            waited += pause

    async def _write(self, wishes: list[flows.Request]) -> None:
        svc = self.service
        now = svc.clock()
        notices: list[Notice] = []

        async def collect(_session: AsyncSession, found: Sequence[Notice]) -> None:
            notices.extend(found)

        async with svc.db.writing() as session:
            room = max(0, svc.settings.subscribe_global_per_hour - await self.links_in_hour(now, session))
            outcomes = await flows.subscribe_many(session, svc.settings, wishes, now=now, notify=collect, links=room)
            await self.notifier(session, notices)
        self._made(len(notices))
        if log.isEnabledFor(logging.INFO):
            for outcome in outcomes:
                log.info("subscribe request: %s", outcome)
