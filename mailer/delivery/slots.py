"""Where the workers' shared send pace and domain slots are counted (``limits.SlotStore``).

* PostgreSQL: the pace is a row of ``send_pace`` holding the next free send slot on the database's
  clock, moved on by one atomic statement; a domain's slots are session advisory locks ``(hash of
  the domain, slot number)`` held on one connection per process: a worker that dies loses its
  connection, and the server frees its slots at once.
* Redis: the same two things, each one Lua script (``TIME`` is the clock); the domain slots are
  members of a sorted set that expire 30 s after their holder last renewed them.

The ``limits`` library counts hits in windows; what a sender needs is "when is my next slot",
which it does not answer, hence the short statements and scripts here.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import defaultdict
from contextlib import suppress
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


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
