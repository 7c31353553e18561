"""A long CLI import commits a chunk at a time: the site's and the sender's writes go in between
its chunks (on SQLite they waited for the whole file, and a write that waited past the 30 s busy
timeout was lost), and an import stopped half-way keeps what it wrote and is finished by running
it again."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mailer.delivery.service import Service
from subscribers import store
from subscribers.models import Subscriber
from tests.conftest import Clock
from tests.support import factories
from tests.support.cli import mailer

ROWS = 20_000
CHUNK = 100


@pytest.fixture
def big_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from mailer.cli import subscribers as command

    monkeypatch.setattr(command, "IMPORT_CHUNK", CHUNK)
    file = tmp_path / "big.csv"
    file.write_text("email,name\n" + "".join(f"reader{i}@example.org,قارئ {i}\n" for i in range(ROWS)),
                    encoding="utf-8")
    return file


async def imported(service: Service) -> int:
    async with service.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(Subscriber).where(
            Subscriber.email.like("reader%"))) or 0)


async def first_chunk(service: Service, importing: asyncio.Future[object]) -> int:
    """Wait until another connection sees the import's first rows; how many it sees."""
    deadline = time.monotonic() + 60
    while (count := await imported(service)) == 0:
        assert not importing.done(), "the import ended before any of its rows could be seen"
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    return count


async def test_the_site_writes_between_the_chunks_of_an_import(
    service: Service, clock: Clock, cli_env: CliRunner, big_file: Path
) -> None:
    importing = asyncio.ensure_future(mailer(cli_env, "subscribers", "import", "--confirmed", str(big_file)))
    seen = await first_chunk(service, importing)
    assert seen < ROWS
    # a subscription from the site, the way its batches write (``Database.writing``)
    async with service.db.writing() as session:
        await store.insert_many(session, factories.confirmed_rows(["site@example.org"], clock.now), [["daily"]], [[]])
    assert not importing.done(), "the site's write waited for the whole import"
    code, out, err = await asyncio.wait_for(importing, 120)
    assert code == 0, err
    assert f"{ROWS} added, 0 already there, 0 suppressed, 0 bad rows" in out
    assert await imported(service) == ROWS
    async with service.db.transaction() as session:
        assert await store.by_email(session, "site@example.org") is not None


def _kill_reader() -> None:
    (reader,) = [p for p in multiprocessing.active_children() if p.name == "import-reader"]
    assert reader.pid is not None
    os.kill(reader.pid, signal.SIGKILL)  # the OOM killer, say


async def test_an_import_stopped_half_way_keeps_its_chunks_and_is_finished_by_running_it_again(
    service: Service, cli_env: CliRunner, big_file: Path
) -> None:
    importing = asyncio.ensure_future(mailer(cli_env, "subscribers", "import", "--confirmed", str(big_file)))
    await first_chunk(service, importing)
    _kill_reader()
    code, out, err = await asyncio.wait_for(importing, 120)
    assert code == 1
    assert "exited with -9" in err
    kept = await imported(service)
    assert 0 < kept < ROWS and kept % CHUNK == 0  # whole chunks: none half-written
    message = " ".join(err.split())  # the terminal's width folds it
    assert f"stopped after line {kept + 1}: the {kept} subscribers added from the lines before it stay" in message

    code, out, err = await mailer(cli_env, "subscribers", "import", "--confirmed", str(big_file))
    assert code == 0, err
    assert f"{ROWS - kept} added, {kept} already there, 0 suppressed, 0 bad rows" in out
    assert await imported(service) == ROWS
