"""The per-process caches of rendered content (edition variants, shares, previews, notices):
``cachetools.LRUCache`` plus "made once": a value that is being made is not made again by a
second coroutine asking for it meanwhile (a preview page and its two frames arrive together;
so do the first subscribe requests after a start).

A lock per missing key, not a shared future: the maker often uses its caller's database session,
which must not outlive that caller. A caller cancelled half-way releases the lock, and the next
one waiting makes the value itself. The cache is touched on the event loop only; the render
threads run pure functions and never see it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import LRUCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """The ``maxsize`` most recently used values; ``get`` counts as a use."""

    def __init__(self, maxsize: int) -> None:
        self.values: LRUCache[K, V] = LRUCache(maxsize)
        self._locks: dict[K, asyncio.Lock] = {}
        self._waiting: Counter[K] = Counter()

    async def get(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        """The value of ``key``, made by ``make()`` if it is missing; concurrent callers of one
        missing key wait for the first one's value instead of making their own."""
        try:
            return self.values[key]
        except KeyError:
            pass
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] += 1
        try:
            async with lock:
                try:
                    return self.values[key]  # made while this caller waited
                except KeyError:
                    value = await make()
                    self.values[key] = value
                    return value
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    def __len__(self) -> int:
        return len(self.values)
