"""``Database.writing`` on SQLite: writers of several processes take turns, and are woken at once."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import time
from pathlib import Path

from sqlalchemy import text

from mailer.core.db import Database

# Each process reads the counter and writes it back plus one, in one transaction, many times:
# a read followed by a write is what the sender's claim and record do. Two such transactions
# of two processes that overlap lose an update or fail ("database is locked": SQLite refuses to
# upgrade a reader whose snapshot another writer has moved on).
_WORKER = """
import asyncio, sys
from sqlalchemy import text
from mailer.core.db import Database

async def main(url, rounds):
    db = Database(url)
    for _ in range(rounds):
        async with db.writing() as session:
            n = await session.scalar(text("SELECT n FROM counter"))
            await asyncio.sleep(0)
            await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
    await db.dispose()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_writers_of_several_processes_take_turns(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}"
    db = Database(url)
    async with db.transaction() as session:
        await session.execute(text("PRAGMA journal_mode=WAL"))
        await session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await session.execute(text("INSERT INTO counter VALUES (0)"))
    rounds, processes = 150, 3
    workers = [await asyncio.create_subprocess_exec(sys.executable, "-c", _WORKER, url, str(rounds),
                                                    stderr=asyncio.subprocess.PIPE) for _ in range(processes)]
    errors = [(await asyncio.wait_for(w.communicate(), 120))[1].decode() for w in workers]
    assert [w.returncode for w in workers] == [0] * processes, errors
    async with db.transaction() as session:
        assert await session.scalar(text("SELECT n FROM counter")) == rounds * processes
    await db.dispose()


async def test_a_writer_waits_for_another_process_and_goes_on_when_it_is_done(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}"
    db = Database(url)
    lock_file = f"{tmp_path / 'mailer.db'}-writer.lock"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT);"
        " fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()",
        lock_file, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert holder.stdin is not None and holder.stdout is not None
    assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"held"
    entered: list[float] = []

    async def write() -> None:
        async with db.writing() as session:
            entered.append(time.monotonic())
            await session.execute(text("SELECT 1"))

    # a wait given up while the other process holds the lock takes nothing with it
    cancelled = asyncio.create_task(write())
    await asyncio.sleep(0.2)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert cancelled.cancelled() and not entered

    waiting = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not entered  # the other process still holds it
    released = time.monotonic()
    holder.stdin.write(b"\n")
    await asyncio.wait_for(waiting, 10)
    await asyncio.wait_for(holder.wait(), 10)
    assert entered[0] - released < 1.0  # goes on once the other process lets go
    await asyncio.sleep(0.1)  # the cancelled wait's thread returns once the lock was free
    assert _descriptors_of(lock_file) == 0  # the cancelled wait's closed, the writer's too
    fd = os.open(lock_file, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it any more
    finally:
        os.close(fd)
    await db.dispose()


def _descriptors_of(path: str) -> int:
    """How many of this process's open descriptors are ``path``."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == os.path.realpath(path))
