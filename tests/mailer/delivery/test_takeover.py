"""Taking over the rows of a worker that died: at once for a process of this host that no longer
exists, at lease expiry for other hosts; the journal of accepted messages read first, so what
the server already took is recorded sent, not sent again."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.core.models import OutboxMessage
from mailer.delivery import journal, outbox
from mailer.delivery.service import Service
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

HOST = socket.gethostname()


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


async def _claim(service: Service, owner: str, clock: Clock, limit: int = 1) -> list[outbox.Claimed]:
    async with service.db.transaction() as session:
        return await outbox.claim(session, owner, clock.now, lease=service.sender.lease, limit=limit)


async def _statuses(service: Service) -> dict[str, str]:
    async with service.db.transaction() as session:
        return dict((await session.execute(select(OutboxMessage.recipient, OutboxMessage.status))).all())


async def test_a_dead_process_of_this_host_is_taken_over_at_once_other_hosts_wait(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_pid: int
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    for name in ("dead", "elsewhere", "alive"):
        await factories.subscriber(service, f"{name}@example.org")
    await service.run_list("daily", clock.now)
    dead, elsewhere, alive = f"crash-1@{HOST}:{dead_pid()}", "otherhost.example:4242", f"{HOST}:{live_pid}"
    claimed = {owner: await _claim(service, owner, clock) for owner in (dead, elsewhere, alive)}
    assert [c[0].recipient for c in claimed.values()] == [f"{n}@example.org" for n in ("dead", "elsewhere", "alive")]
    assert journal.gone(dead) and not journal.gone(elsewhere) and not journal.gone(alive)

    recovered = await service.sender.recover()  # long before any lease expires
    assert recovered == outbox.Recovered(pending=1)
    assert await service.sender.drain() == {"sent": 1}
    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["dead@example.org"]
    statuses = await _statuses(service)
    assert (statuses["elsewhere@example.org"], statuses["alive@example.org"]) == ("sending", "sending")

    clock.advance(seconds=service.settings.lease_seconds + 1)  # now the others' leases expire
    assert await service.sender.recover() == outbox.Recovered(pending=2)
    assert await service.sender.drain() == {"sent": 2}


async def test_what_the_journal_says_the_server_accepted_is_recorded_not_sent_again(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    for n in range(4):
        await factories.subscriber(service, f"reader{n}@example.org")
    edition = await service.run_list("daily", clock.now)
    owner = f"crash-2@{HOST}:{dead_pid()}"
    rows = await _claim(service, owner, clock, limit=4)
    # the dead worker had sent the first two and written them down, then it was killed
    directory = service.settings.data_dir / "journal"
    dead_journal = journal.Journal(directory, owner, 0)
    for row in rows[:2]:
        await dead_journal.accepted(row.id, row.attempts)
    path = dead_journal.path
    assert path.exists()

    recovered = await service.sender.recover()
    assert recovered == outbox.Recovered(pending=2, sent=2)
    assert await service.sender.drain() == {"sent": 2}
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(r.recipient for r in rows[2:])
    statuses = await _statuses(service)
    assert set(statuses.values()) == {"sent"}
    async with service.db.transaction() as session:
        first = await session.get(OutboxMessage, rows[0].id)
        progress = await outbox.progress(session, edition.edition.id if edition.edition else 0, clock.now)
    assert first is not None and first.last_code == 250 and '"journal": true' in first.history
    assert progress.status == "sent"
    assert not path.exists()  # a gone process's journal is removed once its rows are taken back


async def test_a_journal_keeps_only_whole_lines_and_empties_once_recorded(tmp_path: Path) -> None:
    owner = f"w@{HOST}:1"
    log = journal.Journal(tmp_path, owner, 0.05)
    await log.accepted(7, 1)
    await log.accepted(8, 2)
    with log.path.open("ab") as torn:  # a kill in the middle of a write
        torn.write(b"9 1 w@")
    assert journal.read(tmp_path).accepted == {journal.Entry(7, 1, owner), journal.Entry(8, 2, owner)}
    log.settled()
    assert journal.read(tmp_path).accepted == set()
    await log.accepted(10, 1)
    log.settled()
    await log.close()
    assert not log.path.exists()  # nothing left to recover: the file goes with its process


async def test_rows_a_dead_process_never_started_are_not_counted_towards_dead_lettering(
    service: Service, clock: Clock
) -> None:
    """A worker claims its next batch while sending the current one: killed again and again,
    the rows it held but never handed to a connection go back untouched, while a row on a
    connection at every kill is dead-lettered as poison."""
    await factories.ingest_items(service, 2, clock.now)
    for n in range(3):
        await factories.subscriber(service, f"reader{n}@example.org")
    await service.run_list("daily", clock.now)
    directory = service.settings.data_dir / "journal"
    for kill in range(outbox.DEAD_AFTER_RECOVERIES):
        owner = f"crash-{kill}@{HOST}:{dead_pid()}"
        rows = await _claim(service, owner, clock, limit=3)
        dying = journal.Journal(directory, owner, 0)
        dying.open()
        poison = next(r for r in rows if r.recipient == "reader0@example.org")
        dying.started(poison.id, poison.attempts)  # on a connection when the process died
        recovered = await service.sender.recover()
        last = kill + 1 == outbox.DEAD_AFTER_RECOVERIES
        assert recovered == outbox.Recovered(pending=2 if last else 3, dead=1 if last else 0)
    async with service.db.transaction() as session:
        rows_now = {r.recipient: r for r in await session.scalars(select(OutboxMessage))}
    assert rows_now["reader0@example.org"].status == "dead"
    for name in ("reader1@example.org", "reader2@example.org"):
        assert (rows_now[name].status, rows_now[name].recoveries) == ("pending", 0)
        assert '"untried": true' in rows_now[name].history


async def test_without_a_journal_every_recovered_row_counts(service: Service, clock: Clock) -> None:
    """A process with no journal here (another host, or one that never wrote it) may have sent
    any of its rows: each recovery counts."""
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org")
    await service.run_list("daily", clock.now)
    await _claim(service, f"w@{HOST}:{dead_pid()}", clock)
    assert await service.sender.recover() == outbox.Recovered(pending=1)
    async with service.db.transaction() as session:
        (row,) = await session.scalars(select(OutboxMessage))
    assert row.recoveries == 1
