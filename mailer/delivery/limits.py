"""Sending limits: one messages-per-second pace and one cap on concurrent transactions per recipient
domain, for every worker together, wrapped around any ``Transport``.

Where they are counted is ``Settings.shared_limits``:

* ``process``: in this process only (SQLite, where one sending process is the rule);
* ``database`` (PostgreSQL) or ``redis://``: a ``SlotStore`` from ``slots.py``, which reserves
  send slots a tenth of a second's worth at a time, so a worker asks once per chunk, not once
  per message.

A worker keeps a domain slot while it has messages to that domain in flight and gives it back
``LINGER`` seconds after its last one, so a list dominated by one provider costs a few database
trips per batch, not two per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from mailer.core.settings import Settings
from mailer.delivery.outcomes import Outcome
from mailer.delivery.slots import PostgresSlots, RedisSlots
from mailer.delivery.transport import Transport

log = logging.getLogger(__name__)

LINGER = 0.25  # seconds a worker keeps an idle domain slot, for the next message to that domain
POLL = 0.05  # seconds between asking the shared store again for a full domain's slot
AHEAD = 0.1  # seconds of the shared rate reserved per trip to the store


class Pace:
    """Lets at most ``rate`` callers a second through, evenly spaced (``rate`` 0: no limit), in
    this process."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await self.sleep(start - now)


class DomainSlots:
    """At most ``limit`` transactions in flight to one recipient domain, in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(limit))
        self.in_flight: defaultdict[str, int] = defaultdict(int)
        self.peak: defaultdict[str, int] = defaultdict(int)

    async def acquire(self, recipient: str) -> str:
        """Wait for a slot of the recipient's domain; returns the domain, for ``release``."""
        domain = _domain(recipient)
        await self._slots[domain].acquire()
        self._count(domain)
        return domain

    def _count(self, domain: str) -> None:
        self.in_flight[domain] += 1
        self.peak[domain] = max(self.peak[domain], self.in_flight[domain])

    def release(self, domain: str) -> None:
        self.in_flight[domain] -= 1
        self._slots[domain].release()

    async def close(self) -> None:
        return None


def _domain(recipient: str) -> str:
    return recipient.rsplit("@", 1)[-1].lower()


class SlotStore(Protocol):
    """Where the workers' shared pace and domain slots are counted."""

    async def reserve(self, count: int, interval: float) -> float:
        """Take the next ``count`` send slots, ``interval`` seconds apart; returns the seconds
        from now until the first."""
        ...

    async def take(self, domain: str, limit: int) -> bool:
        """One more of ``domain``'s ``limit`` slots for this process, if one is free."""
        ...

    async def give_back(self, domain: str) -> None: ...

    async def close(self) -> None: ...


class SharedPace(Pace):
    """The pace of all workers together: slots reserved from a ``SlotStore`` a chunk at a time."""

    def __init__(self, rate: float, store: SlotStore, **kwargs: Any) -> None:
        super().__init__(rate, **kwargs)
        self.store = store
        self.chunk = max(1, min(50, int(rate * AHEAD)))
        self._slots: deque[float] = deque()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = self.clock()
            while self._slots and self._slots[0] < now - self.interval:
                self._slots.popleft()  # a slot left over from before a pause: never a burst
            if not self._slots:
                try:
                    delay = await self.store.reserve(self.chunk, self.interval)
                except Exception:  # the store is away: this process alone keeps to the rate
                    log.warning("could not reserve send slots; pacing this process alone", exc_info=True)
                    delay, count = max(0.0, self._next - now), 1
                else:
                    count = self.chunk
                now = self.clock()
                first = now + max(0.0, delay)
                self._slots.extend(first + i * self.interval for i in range(count))
                self._next = first + count * self.interval
            start = self._slots.popleft()
        if start > now:
            await self.sleep(start - now)


class SharedDomainSlots(DomainSlots):
    """At most ``limit`` transactions in flight to one domain from all workers together: this
    process holds some of the domain's slots in the ``SlotStore`` and shares them among its lanes."""

    def __init__(self, limit: int, store: SlotStore, *, linger: float = LINGER, poll: float = POLL) -> None:
        super().__init__(limit)
        self.store = store
        self.linger = linger
        self.poll = poll
        self.held: defaultdict[str, int] = defaultdict(int)
        self._changed: dict[str, asyncio.Event] = {}
        self._trims: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def acquire(self, recipient: str) -> str:
        domain = _domain(recipient)
        while True:
            changed = self._changed.setdefault(domain, asyncio.Event())
            if self.in_flight[domain] < self.held[domain]:
                self._count(domain)
                return domain
            if self.held[domain] < self.limit:
                try:
                    taken = await self.store.take(domain, self.limit)
                except Exception:
                    log.warning("could not ask for a slot of %s; waiting", domain, exc_info=True)
                    taken = False
                if taken:
                    self.held[domain] += 1
                    continue
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), self.poll)

    def release(self, domain: str) -> None:
        self.in_flight[domain] -= 1
        changed = self._changed.pop(domain, None)
        if changed is not None:
            changed.set()  # a lane of this process waiting for this domain goes first
        if domain not in self._trims:
            self._trims[domain] = asyncio.get_running_loop().call_later(self.linger, self._trim, domain)

    def _trim(self, domain: str) -> None:
        self._trims.pop(domain, None)
        excess = self.held[domain] - self.in_flight[domain]
        if excess <= 0:
            return
        self.held[domain] -= excess
        task = asyncio.get_running_loop().create_task(self._give_back(domain, excess))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _give_back(self, domain: str, count: int) -> None:
        for _ in range(count):
            try:
                await self.store.give_back(domain)
            except Exception:  # the store frees it anyway: PostgreSQL with the connection, Redis by expiry
                log.warning("could not give back a slot of %s", domain, exc_info=True)

    async def close(self) -> None:
        for handle in self._trims.values():
            handle.cancel()
        self._trims.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.close()


class LimitedTransport:
    """A ``Transport`` that respects the per-domain cap first, then the pace."""

    def __init__(
        self,
        inner: Transport,
        *,
        rate: float,
        domain_concurrency: int,
        store: SlotStore | None = None,
    ) -> None:
        self.inner = inner
        if store is None:
            self.pace = Pace(rate)
            self.domains = DomainSlots(domain_concurrency)
        else:
            self.pace = SharedPace(rate, store)
            self.domains = SharedDomainSlots(domain_concurrency, store)

    async def send(self, sender: str, recipient: str, data: bytes, *, canonical: bool = False) -> Outcome:
        # (acquire and release rather than a context manager: this runs once per message)
        domain = await self.domains.acquire(recipient)
        try:
            await self.pace.wait()
            return await self.inner.send(sender, recipient, data, canonical=canonical)
        finally:
            self.domains.release(domain)

    async def close(self) -> None:
        await self.domains.close()
        await self.inner.close()


def limited(inner: Transport, settings: Settings, engine: AsyncEngine, owner: str) -> LimitedTransport:
    """``inner`` within the settings' send rate and per-domain concurrency, counted where
    ``MAILER_RATE_STORAGE`` says."""
    where = settings.shared_limits
    store: SlotStore | None = None
    if where == "database":
        store = PostgresSlots(engine)
    elif where.startswith("redis"):
        store = RedisSlots(where, owner)
    return LimitedTransport(inner, rate=settings.send_rate, domain_concurrency=settings.domain_concurrency,
                            store=store)
