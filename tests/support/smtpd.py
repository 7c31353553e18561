"""A real SMTP peer for tests: aiosmtpd on loopback that records what it receives and can be
told to fail (Mailman's idea: ``server.fail("rcpt", 450)`` answers the next RCPT with 450)."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mailer.devmailbox import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)  # type: ignore[return-value]


@dataclass
class Script:
    """Scripted faults, consumed in order per SMTP phase: an int is a reply code, "drop" closes
    the connection without a reply (after DATA: the message was received but not acknowledged)."""

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

    def _fault(self, phase: str, session: Any) -> str | None:
        queue: deque[int | str] = getattr(self.script, phase)
        with self.lock:
            if not queue:
                return None
            fault = queue.popleft()
        if fault == "drop":
            session.transport_drop = True
            return "drop"
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
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = self._fault("data", session)
        if fault == "drop":  # the server has the message but the client never hears so
            self._record(envelope)
            server.transport.close()
            return "250 never seen"
        if fault:
            return fault
        self._record(envelope)
        return "250 Message accepted"

    def _record(self, envelope: Any) -> None:
        with self.arrived:
            self.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content))
            )
            self.arrived.notify_all()


class SMTPServer:
    """``with SMTPServer() as server:`` ... ``server.port``, ``server.received``, ``server.fail``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.handler = RecordingHandler()
        self.controller = Controller(
            self.handler, hostname=host, port=self.port, enable_SMTPUTF8=True,
            data_size_limit=50 * 1024 * 1024,
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

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.handler.arrived:
            self.handler.arrived.wait_for(lambda: len(self.handler.received) >= count, timeout)
            return list(self.handler.received)

    def start(self) -> SMTPServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
