"""Work a request asks for but its answer must not wait on (``POST /subscribe``: what is done with
an address would show in the answer's time). ``run`` starts it now, after the answer, at most
``limit`` at once; ``batches`` makes a queue whose items (one per request) are handled many at a
time by one task, so that a burst of requests costs a few transactions instead of one each.
``settle`` waits for all that was started, so that a process shutting down sees every piece of
work whose request was answered; ``caught_up`` waits only for what was started before it was
called, so that a drain of the outbox is not held up by requests that keep coming."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Batches(Generic[T]):
    """Items added one at a time (each request's), handled ``most`` at a time by one task: a batch
    is taken ``linger`` seconds after its first item came (or at once when ``most`` are waiting),
    and while it is being handled, the items that arrive meanwhile wait and go together in the
    next one (a group commit). The task runs only while there are items."""

    def __init__(self, handle: Callable[[list[T]], Awaitable[None]], what: str, most: int,
                 linger: float = 0.0) -> None:
        self._handle = handle
        self._what = what
        self._most = most
        self._linger = linger
        self._full = asyncio.Event()
        self._queue: list[T] = []
        self._task: asyncio.Task[None] | None = None
        self.added = 0  # items added so far
        self.done = 0  # items handled so far (a failed batch is logged and counts as handled)
        self._progress = asyncio.Event()

    def add(self, item: T) -> None:
        self._queue.append(item)
        self.added += 1
        if len(self._queue) >= self._most:
            self._full.set()
        if self._task is None:
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self._linger and len(self._queue) < self._most:
                    self._full.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._full.wait(), self._linger)
                items, self._queue = self._queue[: self._most], self._queue[self._most :]
                try:
                    await self._handle(items)
                except Exception:  # nobody is waiting for it: the log is where it is seen
                    log.exception("%s failed after their requests were answered (%d of them)", self._what,
                                  len(items))
                self.done += len(items)
                self._progress.set()
                self._progress = asyncio.Event()
        finally:
            self._task = None

    async def room(self, waiting: int) -> None:
        """Wait while ``waiting`` items or more wait to be handled: what a caller that adds one
        per request awaits first, so that a flood of requests slows down instead of piling up."""
        while len(self._queue) >= waiting:
            await self._progress.wait()

    async def handled(self, count: int) -> None:
        """Wait until the first ``count`` items added have been handled."""
        while self.done < count:
            await self._progress.wait()


class Later:
    def __init__(self, limit: int = 8) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._running: set[asyncio.Task[None]] = set()
        self._batches: list[Batches[Any]] = []

    def run(self, work: Coroutine[Any, Any, object], what: str) -> None:
        task = asyncio.create_task(self._guarded(work, what))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def batches(self, handle: Callable[[list[T]], Awaitable[None]], what: str, *, most: int = 500,
                linger: float = 0.0) -> Batches[T]:
        """A queue whose items are handled ``most`` at a time by ``handle`` (see ``Batches``);
        ``settle`` and ``caught_up`` wait for its items as for work started by ``run``."""
        queue = Batches(handle, what, most, linger)
        self._batches.append(queue)
        return queue

    async def _guarded(self, work: Coroutine[Any, Any, object], what: str) -> None:
        async with self._slots:
            try:
                await work
            except Exception:  # nobody is waiting for it: the log is where it is seen
                log.exception("%s failed after its request was answered", what)

    async def settle(self) -> None:
        """Wait for every piece of work started so far (and what it started meanwhile): at close."""
        while self._running or any(b.done < b.added for b in self._batches):
            await self.caught_up()

    async def caught_up(self) -> None:
        """Wait for the work started before this call, not for what keeps arriving: what a
        drain of the outbox must see before it claims."""
        marks = [(b, b.added) for b in self._batches]
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        for queue, mark in marks:
            await queue.handled(mark)
