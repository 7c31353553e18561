"""Sending limits: one messages-per-second pace and one cap on concurrent transactions per recipient
domain, for every worker together, wrapped around any ``Transport``.

Where they are counted is ``Settings.shared_limits``:

* ``process``: in this process only (SQLite, where one sending process is the rule);
* ``database``: PostgreSQL. The pace is a row of ``send_pace`` holding the next free send slot on
  the database's clock, moved on by one atomic statement that reserves a few slots at a time (a
  tenth of a second's worth), so a worker asks once per chunk, not once per message. A domain's
  slots are session advisory locks ``(hash of the domain, slot number)`` held on one connection
  per process: a worker that dies loses its connection, and the server frees its slots at once;
* ``redis://``: the same two things in Redis, each one Lua script (``TIME`` is the clock), the
  domain slots as members of a sorted set that expire 30 s after their holder last renewed them.

The ``limits`` library counts hits in windows; what a sender needs is "when is my next slot",
which it does not answer, hence the two short scripts here.

A worker keeps a domain slot while it has messages to that domain in flight and gives it back
``LINGER`` seconds after its last one, so a list dominated by one provider costs a few database
trips per batch, not two per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailer.core.settings import Settings
from mailer.delivery.outcomes import Outcome
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


class PostgresSlots:
    """The shared pace and domain slots in PostgreSQL, on one autocommit connection per process."""

    def __init__(self, engine: AsyncEngine, name: str = "send") -> None:
        self.engine = engine
        self.name = name
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._held: dict[str, list[int]] = defaultdict(list)

    async def _execute(self, sql: str, **params: Any) -> Any:
        """One statement on this process's session; the caller holds ``_lock``."""
        if self._conn is None or self._conn.closed:
            self._held.clear()  # a new session holds no advisory lock
            conn = await self.engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            return (await self._conn.execute(text(sql), params)).scalar()
        except Exception:
            await self._drop()
            raise

    async def _drop(self) -> None:
        """End the session, never hand it back to the pool: its advisory locks go with it."""
        if self._conn is not None:
            with suppress(Exception):
                await self._conn.invalidate()
                await self._conn.close()
            self._conn = None

    async def reserve(self, count: int, interval: float) -> float:
        async with self._lock:
            delay = await self._execute(
                "INSERT INTO send_pace (name, next_at) VALUES (:name, extract(epoch FROM clock_timestamp()) + :span) "
                "ON CONFLICT (name) DO UPDATE SET next_at = "
                "GREATEST(send_pace.next_at, extract(epoch FROM clock_timestamp())) + :span "
                "RETURNING send_pace.next_at - :span - extract(epoch FROM clock_timestamp())",
                name=self.name, span=count * interval,
            )
        return float(delay)

    async def take(self, domain: str, limit: int) -> bool:
        # A session may take its own advisory lock twice, so only the slots it does not hold are
        # tried, and what it holds is read and changed under the same lock as the statement.
        async with self._lock:
            held = self._held[domain]
            free = [slot for slot in range(limit) if slot not in held]
            if not free:
                return False
            slot = await self._execute(
                "SELECT s FROM unnest(CAST(:free AS integer[])) AS s WHERE pg_try_advisory_lock(:key, s) LIMIT 1",
                free=free, key=_lock_key(domain),
            )
            if slot is None:
                return False
            self._held[domain].append(int(slot))
            return True

    async def give_back(self, domain: str) -> None:
        async with self._lock:
            held = self._held[domain]
            if held:
                slot = held.pop()
                await self._execute("SELECT pg_advisory_unlock(:key, :slot)", key=_lock_key(domain), slot=slot)

    async def close(self) -> None:
        async with self._lock:
            await self._drop()  # ends the session: the server frees every slot it held


def _lock_key(domain: str) -> int:
    """A domain's advisory lock class: a signed 32-bit hash (another domain may share it, which
    only makes the two share their slots)."""
    return (zlib.crc32(b"mailer-domain:" + domain.encode()) ^ 0x80000000) - 0x80000000


_REDIS_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local first = tonumber(redis.call('GET', KEYS[1]) or '0')
if first < now then first = now end
redis.call('SET', KEYS[1], string.format('%.6f', first + tonumber(ARGV[1])), 'EX', 3600)
return string.format('%.6f', first - now)
"""

_REDIS_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])))
  return 1
end
return 0
"""

_REDIS_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #ARGV - 1 do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[#ARGV]), ARGV[i]) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[#ARGV])))
return 1
"""


class RedisSlots:
    """The shared pace and domain slots in Redis (``MAILER_RATE_STORAGE=redis://HOST:6379/0``)."""

    TTL = 30.0  # seconds a domain slot outlives its holder's last renewal

    def __init__(self, url: str, owner: str, prefix: str = "mailer") -> None:
        import redis.asyncio as redis  # the optional extra: pip install 'arabic-mailer[redis]'

        self.client: Any = redis.from_url(url)
        self.owner = owner
        self.prefix = prefix
        self._reserve = self.client.register_script(_REDIS_RESERVE)
        self._take = self.client.register_script(_REDIS_TAKE)
        self._renew_script = self.client.register_script(_REDIS_RENEW)
        self._held: dict[str, list[str]] = defaultdict(list)
        self._serial = 0
        self._renewal: asyncio.Task[None] | None = None

    def _key(self, domain: str) -> str:
        return f"{self.prefix}:domain:{domain}"

    async def reserve(self, count: int, interval: float) -> float:
        return float(await self._reserve(keys=[f"{self.prefix}:pace"], args=[f"{count * interval:.6f}"]))

    async def take(self, domain: str, limit: int) -> bool:
        self._serial += 1
        member = f"{self.owner}:{self._serial}"
        if not await self._take(keys=[self._key(domain)], args=[limit, member, self.TTL]):
            return False
        self._held[domain].append(member)
        if self._renewal is None:
            self._renewal = asyncio.create_task(self._renew())
        return True

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.TTL / 3)
            for domain, members in list(self._held.items()):
                if members:
                    try:
                        await self._renew_script(keys=[self._key(domain)], args=[*members, self.TTL])
                    except Exception:
                        log.warning("could not renew the slots of %s", domain, exc_info=True)

    async def give_back(self, domain: str) -> None:
        held = self._held[domain]
        if held:
            await self.client.zrem(self._key(domain), held.pop())

    async def close(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            with suppress(asyncio.CancelledError):
                await self._renewal
        with suppress(Exception):
            for domain, members in self._held.items():
                if members:
                    await self.client.zrem(self._key(domain), *members)
        await self.client.aclose()


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
