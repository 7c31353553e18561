"""Sending limits: a messages-per-second pace for the whole worker, and a cap on concurrent
transactions per destination domain, wrapped around any ``Transport``."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from mailer.delivery.outcomes import Outcome
from mailer.delivery.transport import Transport


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

    async def acquire(self, recipient: str) -> str:
        """Wait for a slot of the recipient's domain; returns the domain, for ``release``."""
        domain = recipient.rsplit("@", 1)[-1].lower()
        await self._slots[domain].acquire()
        self.in_flight[domain] += 1
        self.peak[domain] = max(self.peak[domain], self.in_flight[domain])
        return domain

    def release(self, domain: str) -> None:
        self.in_flight[domain] -= 1
        self._slots[domain].release()


class LimitedTransport:
    """A ``Transport`` that respects the per-domain cap first, then the global pace."""

    def __init__(self, inner: Transport, *, rate: float, domain_concurrency: int) -> None:
        self.inner = inner
        self.pace = Pace(rate)
        self.domains = DomainSlots(domain_concurrency)

    async def send(self, sender: str, recipient: str, data: bytes, *, canonical: bool = False) -> Outcome:
        # (acquire and release rather than a context manager: this runs once per message)
        domain = await self.domains.acquire(recipient)
        try:
            await self.pace.wait()
            return await self.inner.send(sender, recipient, data, canonical=canonical)
        finally:
            self.domains.release(domain)

    async def close(self) -> None:
        await self.inner.close()
