"""The delivery journal: an append-only file of the outbox rows the SMTP server accepted.

The sender writes a line right after each 2xx reply and records the whole batch in the database
later; a process killed in between (SIGKILL, the OOM killer, a crash) leaves the lines behind,
and whoever recovers its leases reads them first and marks those rows sent instead of sending
them again. So a kill repeats only the messages that were on the SMTP connections at that
moment, not the batch.

It also notes each row as its message is handed to a connection (a ``>`` line, never synced):
a row of a dead process that was claimed but never started cannot have reached the server, so
its recovery does not count towards dead-lettering it as poison (a worker claims its next batch
while sending the current one; killed often, those rows would otherwise die untried).

A line is one ``os.write`` to a file opened with ``O_APPEND``: once the call returns the kernel
has it, so it survives the process. Surviving a power loss needs it on the disk: ``fsync`` every
``MAILER_JOURNAL_FSYNC_SECONDS`` (0: after every line). Each process writes its own file, named
by its host and pid, empties it once its batch is recorded and removes it when it stops; a file
whose process is gone is removed by the process that recovered its rows. The journal is local:
only a process on the same host, with the same data directory, reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".journal"
_OWNER = re.compile(r"(?:^|@)(?P<host>[^@:\s]+):(?P<pid>[0-9]+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


@dataclass(frozen=True)
class Entry:
    """A message the server accepted: the row, the attempt that sent it, and the lease owner."""

    row_id: int
    attempt: int
    owner: str


@dataclass(frozen=True)
class Found:
    """What the journals of a data directory hold: the rows accepted, the rows started, and which
    processes (host as in file names, pid) have a journal there."""

    accepted: frozenset[Entry] = frozenset()
    started: frozenset[Entry] = frozenset()
    processes: frozenset[tuple[str, int]] = frozenset()

    def kept_by(self, owner: str) -> bool:
        """Whether ``owner`` has a journal here: then a row of it missing from ``started`` was
        never handed to a connection."""
        found = process_of(owner)
        return found is not None and (_UNSAFE.sub("-", found[0]), found[1]) in self.processes


def process_of(owner: str) -> tuple[str, int] | None:
    """The host and pid a lease owner names (``host:pid`` or ``name@host:pid``), if it does."""
    match = _OWNER.search(owner)
    return (match["host"], int(match["pid"])) if match else None


def gone(owner: str) -> bool:
    """Whether ``owner`` is a process of this host that no longer exists: its leases can be taken
    over at once. Owners on other hosts, or without a pid, are never called gone."""
    found = process_of(owner)
    if found is None or found[0] != socket.gethostname() or found[1] == os.getpid():
        return False
    return not _alive(found[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Journal:
    """One process's journal file; ``accepted`` after each 2xx, ``settled`` once the batch is
    recorded, ``close`` when the sender stops."""

    def __init__(self, directory: Path, owner: str, fsync_seconds: float) -> None:
        self.directory = directory
        self.owner = owner
        self.fsync_seconds = fsync_seconds
        host, pid = process_of(owner) or (socket.gethostname(), os.getpid())
        name = f"{_UNSAFE.sub('-', host)}_{pid}_{secrets.token_hex(4)}{SUFFIX}"
        self.path = directory / name
        self._fd: int | None = None
        self._dirty = False
        self._flusher: asyncio.Task[None] | None = None

    def open(self) -> int:
        """Create the file (before the process holds any row, so recovery knows it kept one)."""
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return self._fd

    def started(self, row_id: int, attempt: int) -> None:
        """Note that this row's message is being handed to a connection: one small write, no
        sync (lost with the machine, it only makes recovery count the row as tried)."""
        os.write(self.open(), f"> {row_id} {attempt} {self.owner}\n".encode())

    async def accepted(self, row_id: int, attempt: int) -> None:
        """Note that the server accepted this row's message: one small write, then the fsync
        the cadence asks for (at once with 0, else from a background task)."""
        fd = self.open()
        os.write(fd, f"{row_id} {attempt} {self.owner}\n".encode())
        if self.fsync_seconds <= 0:
            await asyncio.to_thread(os.fsync, fd)
            return
        self._dirty = True
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.fsync_seconds)
        if self._dirty and self._fd is not None:
            self._dirty = False
            await asyncio.to_thread(os.fsync, self._fd)

    def settled(self) -> None:
        """Every line so far is recorded in the database: start the file afresh."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            self._dirty = False

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._fd is not None:
            fd, self._fd = self._fd, None
            empty = os.fstat(fd).st_size == 0
            os.close(fd)
            if empty:  # lines left mean a batch was never recorded: recovery reads them
                self.path.unlink(missing_ok=True)


def read(directory: Path) -> Found:
    """Every complete line of every journal in ``directory``."""
    accepted: set[Entry] = set()
    started: set[Entry] = set()
    processes: set[tuple[str, int]] = set()
    if not directory.is_dir():
        return Found()
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:  # its process closed it meanwhile
            continue
        named = _file_process(path)
        if named is not None:
            processes.add(named)
        for line in text.split("\n")[:-1]:  # a line without its end was torn by the kill
            into = accepted
            if line.startswith("> "):
                into, line = started, line[2:]
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2]:
                into.add(Entry(int(parts[0]), int(parts[1]), parts[2]))
    return Found(frozenset(accepted), frozenset(started), frozenset(processes))


def _file_process(path: Path) -> tuple[str, int] | None:
    """The (host, pid) a journal's file name gives (``host_pid_random.journal``)."""
    parts = path.name.removesuffix(SUFFIX).rsplit("_", 2)
    return (parts[0], int(parts[1])) if len(parts) == 3 and parts[1].isdigit() else None


def remove_gone(directory: Path, holding: set[str]) -> int:
    """Delete the journals of processes of this host that no longer exist and no longer hold
    any row (``holding``: the lease owners of rows being sent); returns how many."""
    removed = 0
    if not directory.is_dir():
        return removed
    here = socket.gethostname()
    host = _UNSAFE.sub("-", here)
    busy = {found[1] for found in map(process_of, holding) if found is not None and found[0] == here}
    for path in directory.glob(f"*{SUFFIX}"):
        named = _file_process(path)
        if named is None or named[0] != host:
            continue
        pid = named[1]
        if pid != os.getpid() and pid not in busy and not _alive(pid):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
