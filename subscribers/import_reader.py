"""An import file parsed and prepared in a process of its own.

``importer.stream`` and ``importer.prepare`` (reading the CSV, checking every address and cell,
the rows' keys and hashes) are about a third of an import's CPU. In a thread they took turns
with the database writes for the GIL (0.8 s saved of 3.4 in 200,000 rows); in a process they run
on the other core. Chunks cross the pipe as plain tuples, since unpickling the rows' own objects
cost nearly as much as making them, and the pipe holds about one chunk: the import's memory
stays that of a few chunks however long the file."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mailer.core.errors import MailerError
from mailer.core.lists import NewsList
from subscribers import importer
from subscribers.addresses import Address


@dataclass(frozen=True)
class Chunk:
    parsed: importer.Parsed
    prepared: importer.Prepared
    position: int  # bytes of the file read so far (for a progress bar)


class ReaderFailed(MailerError):
    """The reading process failed or died: the file could not be read, a bug or the machine,
    never the file's content (a bad row is a ``Problem``, a bad file a ``Problem`` of line 1)."""


class ChunkReader:
    """``with ChunkReader(path, ...) as reader: while (chunk := await reader.next()) ...``"""

    def __init__(self, path: Path, *, lists: Mapping[str, NewsList], sections: Mapping[str, int], smtputf8: bool,
                 size: int, now: datetime, confirmed: bool) -> None:
        context = multiprocessing.get_context("spawn")  # no copy of the parent's loop, threads or sockets
        self._conn, theirs = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_produce, args=(theirs, path, dict(lists), dict(sections), smtputf8, size, now, confirmed),
            daemon=True, name="import-reader")
        self._process.start()
        theirs.close()
        self._done = False

    async def next(self) -> Chunk | None:
        """The next chunk, or None after the last."""
        if self._done:
            return None
        try:
            message = await asyncio.to_thread(self._conn.recv)
        except (EOFError, OSError):  # OSError: it died while sending a chunk ("end of file during message")
            await asyncio.to_thread(self._process.join, 5)
            raise ReaderFailed(f"the import's reading process exited with {self._process.exitcode}") from None
        if message is None:
            self._done = True
            return None
        if isinstance(message, str):
            self._done = True
            raise ReaderFailed(f"the import's reading process failed: {message}")
        return _unflatten(*message)

    def close(self) -> None:
        self._conn.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(10)

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Flat = tuple[list[tuple[Any, ...]], list[importer.Problem], dict[str, str], list[tuple[Any, ...]], int]


def _flatten(parsed: importer.Parsed, prepared: importer.Prepared, position: int) -> Flat:
    rows = [(r.line, r.address.normalized, r.address.ascii, r.name, r.lists, tuple(r.sections)) for r in parsed.rows]
    values = [prepared.values[r.line] for r in parsed.rows] if prepared.values else []
    return rows, parsed.problems, prepared.hashes, values, position


def _unflatten(rows: list[tuple[Any, ...]], problems: list[importer.Problem], hashes: dict[str, str],
               values: list[tuple[Any, ...]], position: int) -> Chunk:
    parsed = importer.Parsed(
        rows=[importer.Row(line, Address(normalized, ascii_), name, lists, frozenset(sections))
              for line, normalized, ascii_, name, lists, sections in rows],
        problems=problems,
    )
    by_line = dict(zip((r.line for r in parsed.rows), values, strict=True)) if values else {}
    return Chunk(parsed, importer.Prepared(hashes, by_line), position)


def _produce(conn: Connection, path: Path, lists: dict[str, NewsList], sections: dict[str, int], smtputf8: bool,
             size: int, now: datetime, confirmed: bool) -> None:
    """The reading process: every chunk, then None; a str says what went wrong."""
    try:
        with path.open("rb") as file:
            for parsed in importer.stream(file, lists=lists, sections=sections, smtputf8=smtputf8, size=size):
                prepared = importer.prepare(parsed.rows, now=now, confirmed=confirmed)
                conn.send(_flatten(parsed, prepared, file.tell()))
        conn.send(None)
    except BrokenPipeError:  # the import stopped reading (an error, or ^C): nothing to say
        pass
    except Exception as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
