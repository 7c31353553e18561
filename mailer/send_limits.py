"""Sending limits: a messages-per-second pace for the whole worker, and a cap on concurrent
transactions per destination domain, wrapped around any ``Transport``."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from mailer.outcomes import Outcome
from mailer.transport import Transport


class Pace:
    """Lets at most ``rate`` callers a second through, evenly spaced (``rate`` 0: no limit)."""

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
    """At most ``limit`` transactions in flight to one recipient domain."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(limit))
        self.in_flight: defaultdict[str, int] = defaultdict(int)
        self.peak: defaultdict[str, int] = defaultdict(int)

    @asynccontextmanager
    async def slot(self, recipient: str) -> AsyncIterator[None]:
        domain = recipient.rsplit("@", 1)[-1].lower()
        async with self._slots[domain]:
            self.in_flight[domain] += 1
            self.peak[domain] = max(self.peak[domain], self.in_flight[domain])
            try:
                yield
            finally:
                self.in_flight[domain] -= 1


class LimitedTransport:
    """A ``Transport`` that respects the per-domain cap first, then the global pace."""

    def __init__(self, inner: Transport, *, rate: float, domain_concurrency: int) -> None:
        self.inner = inner
        self.pace = Pace(rate)
        self.domains = DomainSlots(domain_concurrency)

    async def send(self, sender: str, recipient: str, data: bytes, *, canonical: bool = False) -> Outcome:
        async with self.domains.slot(recipient):
            await self.pace.wait()
            return await self.inner.send(sender, recipient, data, canonical=canonical)

    async def close(self) -> None:
        await self.inner.close()
