"""Work done after the answer, a batch at a time (``mailer.core.later``): items that arrive while a
batch is handled go together in the next one; ``caught_up`` waits for what came before it and
not for what keeps coming; ``settle`` waits for everything; a failed batch does not stop the
queue; ``room`` holds a caller back while the backlog is full."""

from __future__ import annotations

import asyncio

import pytest

from mailer.core.later import Later


class Recorder:
    """A handler that keeps every batch it was given, and can be held at its next batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.inside = asyncio.Event()

    async def __call__(self, items: list[int]) -> None:
        self.inside.set()
        await self.gate.wait()
        if -1 in items:
            raise ValueError("a poison item")
        self.batches.append(items)


async def test_items_that_arrive_during_a_batch_go_together_in_the_next() -> None:
    later, handler = Later(), Recorder()
    queue = later.batches(handler, "test items", most=100, linger=0.01)
    handler.gate.clear()
    queue.add(1)
    await handler.inside.wait()  # the first batch is being handled
    for n in range(2, 12):
        queue.add(n)
    handler.gate.set()
    await later.settle()
    assert handler.batches == [[1], list(range(2, 12))]


async def test_a_batch_waits_for_others_and_never_takes_more_than_most() -> None:
    later, handler = Later(), Recorder()
    queue = later.batches(handler, "test items", most=4, linger=0.05)
    for n in range(10):
        queue.add(n)
    await later.settle()
    assert handler.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_caught_up_waits_for_what_came_before_it_only() -> None:
    later, handler = Later(), Recorder()
    queue = later.batches(handler, "test items", most=100)
    queue.add(1)
    await asyncio.sleep(0)
    await handler.inside.wait()
    waiting = asyncio.create_task(later.caught_up())
    await asyncio.sleep(0.01)
    handler.gate.clear()  # the batch after the first is held for as long as the test likes
    queue.add(2)
    await asyncio.wait_for(waiting, 1)  # item 1 is done; item 2 still waits
    assert handler.batches == [[1]]
    settling = asyncio.create_task(later.settle())
    await asyncio.sleep(0.02)
    assert not settling.done()  # settle waits for item 2
    handler.gate.set()
    await asyncio.wait_for(settling, 1)
    assert handler.batches == [[1], [2]]


async def test_a_failed_batch_is_logged_and_the_queue_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    later, handler = Later(), Recorder()
    queue = later.batches(handler, "test items", most=1)
    for n in (1, -1, 2):
        queue.add(n)
    await later.settle()
    assert handler.batches == [[1], [2]]
    assert "test items failed after their requests were answered" in caplog.text


async def test_room_holds_a_caller_back_while_the_backlog_is_full() -> None:
    later, handler = Later(), Recorder()
    queue = later.batches(handler, "test items", most=2)
    handler.gate.clear()
    queue.add(0)
    await handler.inside.wait()
    for n in range(1, 4):
        queue.add(n)
    waiting = asyncio.create_task(queue.room(3))
    await asyncio.sleep(0.02)
    assert not waiting.done()  # three wait: no room below three
    handler.gate.set()
    await asyncio.wait_for(waiting, 1)
    await later.settle()
    assert [n for batch in handler.batches for n in batch] == [0, 1, 2, 3]
