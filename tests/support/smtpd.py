"""A real SMTP peer for tests: aiosmtpd on loopback that records what it receives and can be
told to fail (Mailman's idea: ``server.fail("rcpt", 450)`` answers the next RCPT with 450)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mailer.delivery.devmailbox import free_port, port_open
from mailer.delivery.pipelining import PipeliningProtocol


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    at: float = 0.0  # time.monotonic() when the message was accepted

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)  # type: ignore[return-value]


@dataclass
class Script:
    """Scripted faults, consumed in order per SMTP phase: an int is a reply code, a string that
    starts with one is the whole reply (``"550 5.7.1 Message rejected as spam"``), "drop" closes
    the connection without a reply (after DATA: the message was received but not acknowledged),
    "ok" lets that one through."""

    mail: deque[int | str] = field(default_factory=deque)
    rcpt: deque[int | str] = field(default_factory=deque)
    data: deque[int | str] = field(default_factory=deque)


class RecordingHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script = Script()
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.delay = 0.0  # seconds to wait before answering DATA
        self.unknown_users: set[str] = set()  # RCPT to these always gets 550 5.1.1
        self.connections = 0  # EHLO/HELO greetings seen: one per connection
        self.pipelining = True  # offer PIPELINING (RFC 2920) as Postfix does; aiosmtpd reads it fine
        self.in_data = 0  # transactions between DATA and its reply right now, from every client
        self.peak_in_data = 0
        self.on_received: Callable[[int], None] | None = None  # called with the count, in the server's thread
        # replies to messages after the first ``hold_after`` wait until ``held`` is set: the server
        # has them, the client has not heard (what is on the connections when a client dies)
        self.hold_after: int | None = None
        self.held = threading.Event()

    async def handle_EHLO(self, server: SMTP, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_HELO(self, server: SMTP, session: Any, envelope: Any, hostname: str) -> str:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return f"250 {server.hostname}"

    def _fault(self, phase: str, session: Any) -> str | None:
        queue: deque[int | str] = getattr(self.script, phase)
        with self.lock:
            if not queue:
                return None
            fault = queue.popleft()
        if fault == "ok":
            return None
        if fault == "drop":
            session.transport_drop = True
            return "drop"
        if isinstance(fault, str):
            return fault
        code = int(fault)
        return f"{code} scripted {'temporary' if code < 500 else 'permanent'} failure"

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        fault = self._fault("mail", session)
        if fault == "drop":
            server.transport.close()
            return "421 closing"
        if fault:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        fault = self._fault("rcpt", session)
        if fault == "drop":
            server.transport.close()
            return "421 closing"
        if fault:
            return fault
        if address.lower() in self.unknown_users:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        with self.lock:
            self.in_data += 1
            self.peak_in_data = max(self.peak_in_data, self.in_data)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            with self.lock:
                self.in_data -= 1
        fault = self._fault("data", session)
        if fault == "drop":  # the server has the message but the client never hears so
            self._record(envelope)
            server.transport.close()
            return "250 never seen"
        if fault:
            return fault
        count = self._record(envelope)
        if self.on_received is not None:
            self.on_received(count)
        with self.lock:
            gate = self.held if self.hold_after is not None and count > self.hold_after else None
        if gate is not None:
            await asyncio.to_thread(gate.wait, 120)
        return "250 Message accepted"

    def _record(self, envelope: Any) -> int:
        with self.arrived:
            self.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content),
                         time.monotonic())
            )
            self.arrived.notify_all()
            return len(self.received)


class SMTPServer:
    """``with SMTPServer() as server:`` ... ``server.port``, ``server.received``, ``server.fail``."""

    def __init__(self, host: str = "127.0.0.1", *, port: int | None = None, pipelining: bool = True,
                 **controller: Any) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.handler = RecordingHandler()
        self.handler.pipelining = pipelining
        self._options = controller
        self.controller: Controller | None = None
        self.running = False

    def _controller(self) -> Controller:
        return Controller(
            self.handler, hostname=self.host, port=self.port, enable_SMTPUTF8=True,
            data_size_limit=50 * 1024 * 1024, **self._options,
        )

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def fail(self, phase: str, *codes: int | str) -> None:
        with self.handler.lock:
            getattr(self.handler.script, phase).extend(codes)

    def reject(self, *addresses: str) -> None:
        """RCPT to these addresses answers 550 5.1.1 from now on, like a mailbox that is gone."""
        with self.handler.lock:
            self.handler.unknown_users.update(a.lower() for a in addresses)

    def hold_replies_after(self, count: int) -> None:
        """From the message after the first ``count`` on, take each message but hold its reply."""
        with self.handler.lock:
            self.handler.held = threading.Event()
            self.handler.hold_after = count

    def release_replies(self) -> None:
        with self.handler.lock:
            self.handler.held.set()
            self.handler.hold_after = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.handler.arrived:
            self.handler.arrived.wait_for(lambda: len(self.handler.received) >= count, timeout)
            return list(self.handler.received)

    def start(self) -> SMTPServer:
        """Start, or start again on the same port after ``stop`` (what it received is kept)."""
        if not self.running:
            self.controller = self._controller()
            self.controller.start()
            self.running = True
        return self

    def stop(self) -> None:
        """Go away: close the listening socket (open connections die with the server's loop)."""
        if self.running and self.controller is not None:
            self.controller.stop()
            self.running = False

    def __enter__(self) -> SMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every write of the SMTP transport's connections, in order (to count writes a message)."""
    writes: list[bytes] = []
    original = PipeliningProtocol.write

    def write(self: PipeliningProtocol, data: bytes) -> None:
        writes.append(data)
        original(self, data)

    monkeypatch.setattr(PipeliningProtocol, "write", write)
    return writes


@contextlib.contextmanager
def arrivals_process(arrivals: Path) -> Iterator[str]:
    """A recording server in a process of its own; yields its URL. Each accepted message appends
    its ``time.monotonic()`` (one clock for every process) to ``arrivals``. For tests that measure
    a rate: in the test process, the server's thread stops whenever the test process does (its
    collector, other tests' threads), and what was sent during the stop arrives as a burst."""
    port = free_port("127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.smtpd", str(port), str(arrivals)],
                            stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
    try:
        for _ in range(200):
            if port_open("127.0.0.1", port):
                break
            if proc.poll() is not None:
                raise AssertionError(f"the recording server exited with {proc.returncode}")
            time.sleep(0.05)
        else:
            raise AssertionError(f"the recording server is not listening on {port} after 10 s")
        yield f"smtp://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def read_arrivals(arrivals: Path) -> list[float]:
    return sorted(float(line) for line in arrivals.read_text().split())


def _serve_arrivals(port: int, arrivals: Path) -> None:
    with arrivals.open("a", buffering=1) as out:
        server = SMTPServer(port=port)

        def note(_count: int) -> None:
            out.write(f"{time.monotonic()!r}\n")

        server.handler.on_received = note
        with server:
            threading.Event().wait()  # until terminated


if __name__ == "__main__":
    _serve_arrivals(int(sys.argv[1]), Path(sys.argv[2]))
