"""Rate limits counted by the limits library: shares per client and per sender, subscriptions per
client, editor sign-in tries per account and per client.

Counts live in the storage named by ``MAILER_SHARE_RATE_STORAGE``: in this process's memory by
default, or a Redis (``redis://HOST``) shared by every worker. Limits that must hold across
workers without one are counted in the database instead (the share records, the confirmations)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from limits import RateLimitItem, parse, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


class RateLimiter:
    def __init__(self, storage_uri: str) -> None:
        self.strategy = MovingWindowRateLimiter(storage_from_string(f"async+{storage_uri}"))

    @staticmethod
    def parse(spec: str) -> list[RateLimitItem]:
        """``"5/minute;30/day"`` as limits items (the settings validated the text already)."""
        return list(parse_many(spec))

    async def acquire(self, items: Sequence[RateLimitItem], *key: str) -> float | None:
        """Count one hit against every item if all have room and return None; otherwise count
        nothing and return the seconds until the fullest window has room again."""
        wait = await self.wait(items, *key)
        if wait is None:
            await self.count(items, *key)
        return wait

    async def wait(self, items: Sequence[RateLimitItem], *key: str) -> float | None:
        """None if every item has room for one more hit (nothing is counted), else the seconds
        until the fullest has: for limits that count only failures."""
        for item in items:
            if not await self.strategy.test(item, *key):
                stats = await self.strategy.get_window_stats(item, *key)
                return max(1.0, stats.reset_time - time.time())
        return None

    async def count(self, items: Sequence[RateLimitItem], *key: str) -> None:
        """One hit against every item."""
        for item in items:
            await self.strategy.hit(item, *key)

    async def first_in(self, period: str, *key: str) -> bool:
        """True once per ``period`` (e.g. ``"1/minute"``) for ``key``: to log a flood once."""
        return await self.strategy.hit(parse(period), "once", *key)
