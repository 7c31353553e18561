"""The per-process caches of rendered content: the most recently used are kept, and a value
asked for by several coroutines at once is made once."""

from __future__ import annotations

import asyncio

import pytest

from mailer.core.memo import Memo


def made(value: int, log: list[int] | None = None, delay: float = 0.0):
    async def make() -> int:
        if log is not None:
            log.append(value)
        await asyncio.sleep(delay)
        return value

    return make


async def test_the_least_recently_used_goes_first() -> None:
    cache: Memo[str, int] = Memo(2)
    assert await cache.get("a", made(1)) == 1
    assert await cache.get("b", made(2)) == 2
    assert await cache.get("a", made(99)) == 1  # kept, and now the most recent
    assert await cache.get("c", made(3)) == 3  # "b" goes
    assert dict(cache.values) == {"a": 1, "c": 3} and len(cache) == 2


async def test_concurrent_asks_for_a_missing_key_make_it_once() -> None:
    cache: Memo[str, int] = Memo(4)
    log: list[int] = []
    values = await asyncio.gather(*(cache.get("k", made(7, log, delay=0.01)) for _ in range(5)))
    assert values == [7] * 5 and log == [7]
    assert not cache._locks and not cache._waiting  # nothing is kept for a key no one waits on


async def test_a_failure_is_not_kept_and_the_next_caller_tries_again() -> None:
    cache: Memo[str, int] = Memo(4)

    async def broken() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("render failed")

    first = asyncio.create_task(cache.get("k", broken))
    second = asyncio.create_task(cache.get("k", made(5)))
    with pytest.raises(RuntimeError):
        await first
    assert await second == 5 and await cache.get("k", made(6)) == 5


async def test_a_cancelled_maker_lets_the_next_waiter_make_the_value() -> None:
    cache: Memo[str, int] = Memo(4)
    first = asyncio.create_task(cache.get("k", made(1, delay=10)))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get("k", made(2)))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == 2
    assert first.cancelled() and not cache._locks
