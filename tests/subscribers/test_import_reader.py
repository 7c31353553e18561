"""The import's reading process gives what ``importer.stream`` and ``importer.prepare`` give in
this process, chunk by chunk; a reader that fails or dies says so."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from mailer.core.db import utcnow
from mailer.core.lists import default_lists
from subscribers import importer, store
from subscribers.import_reader import ChunkReader, ReaderFailed

LISTS = default_lists("0 7 * * *", "0 7 * * 5")
SECTIONS = {"سياسة": 1, "اقتصاد": 2}
CSV = "\r\n".join([
    "email,name,lists,sections",
    "one@example.org,أحمد علي,daily,سياسة",
    "not-an-address,x,,",
    '"two@مثال.عراق","ليلى",weekly,سياسة|اقتصاد',
    "THREE+news@Example.COM,,,",
    "four@example.org,,monthly,",
    "five@example.org,,,",
    "",
])


@pytest.mark.parametrize("confirmed", [True, False])
async def test_the_chunks_are_those_made_in_this_process(tmp_path: Path, confirmed: bool) -> None:
    path = tmp_path / "list.csv"
    path.write_text(CSV, encoding="utf-8")
    now = utcnow()
    with path.open("rb") as f:
        expected = [(parsed, importer.prepare(parsed.rows, now=now, confirmed=confirmed))
                    for parsed in importer.stream(f, lists=LISTS, sections=SECTIONS, size=2)]
    got = []
    with ChunkReader(path, lists=LISTS, sections=SECTIONS, smtputf8=True, size=2, now=now,
                     confirmed=confirmed) as reader:
        while (chunk := await reader.next()) is not None:
            got.append(chunk)
        assert await reader.next() is None
    # each row's link key is drawn at random: equal but for it
    link = store.SUBSCRIBER_COLUMNS.index("link_key")

    def masked(prepared: importer.Prepared) -> tuple[object, ...]:
        return prepared.hashes, {line: v[:link] + v[link + 1:] for line, v in prepared.values.items()}

    assert [(c.parsed, masked(c.prepared)) for c in got] == [(p, masked(q)) for p, q in expected]
    assert len(got) == 3 and sum(len(c.parsed.rows) for c in got) == 4
    assert sum(len(c.parsed.problems) for c in got) == 2  # the bad address, the unknown list
    status = store.SUBSCRIBER_COLUMNS.index("status")
    assert {v[status] for c in got for v in c.prepared.values.values()} == {"confirmed" if confirmed else "pending"}
    assert got[-1].position == path.stat().st_size


async def test_a_reader_that_cannot_read_the_file_says_why(tmp_path: Path) -> None:
    with ChunkReader(tmp_path / "gone.csv", lists=LISTS, sections=SECTIONS, smtputf8=True, size=2, now=utcnow(),
                     confirmed=True) as reader, pytest.raises(ReaderFailed, match=r"gone\.csv"):
        await reader.next()


async def test_a_reader_that_dies_fails_the_import(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"  # more than the pipe holds: the reader waits to send the rest
    path.write_text("email\r\n" + "".join(f"reader{i}@example.org\r\n" for i in range(20_000)), encoding="utf-8")
    with ChunkReader(path, lists=LISTS, sections=SECTIONS, smtputf8=True, size=100, now=utcnow(),
                     confirmed=True) as reader:
        first = await reader.next()
        assert first is not None
        pid = reader._process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the OOM killer, say: what it had not sent is never seen
        with pytest.raises(ReaderFailed, match="exited with -9"):
            while await reader.next() is not None:
                pass
