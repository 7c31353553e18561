"""The built-in development mailbox: an aiosmtpd server on loopback that keeps every message it
receives in a Maildir under the data directory, so the first run needs no mail server."""

from __future__ import annotations

import logging
import mailbox
import socket
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (aiosmtpd's ``Controller(port=0)`` cannot report its port)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class MaildirHandler:
    """An aiosmtpd handler: each message, with its envelope as two headers, into a Maildir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)  # the data directory may not exist yet
        self.maildir = mailbox.Maildir(path, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        envelope_headers = (
            f"X-MailFrom: {envelope.mail_from}\r\nX-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode("utf-8", "surrogateescape")
        self.maildir.add(envelope_headers + envelope.original_content)
        return "250 Message accepted for delivery"


def maildir_path(data_dir: Path) -> Path:
    return data_dir / "devmailbox"


class DevMailbox:
    """Starts the server in its own thread; ``stop`` ends it."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.handler = MaildirHandler(maildir_path(data_dir))
        self.controller = Controller(
            self.handler,
            hostname=host,
            port=self.port,
            enable_SMTPUTF8=True,
            data_size_limit=50 * 1024 * 1024,
            server_hostname="devmailbox.local",
        )

    def start(self) -> DevMailbox:
        self.controller.start()
        log.info("development mailbox listening on %s:%d, storing in %s", self.host, self.port,
                 self.handler.path)
        return self

    def stop(self) -> None:
        self.controller.stop()


@dataclass(frozen=True)
class StoredMessage:
    key: str
    message: EmailMessage
    raw: bytes  # as received: re-serialising ``message`` would refold its headers

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    @property
    def date(self) -> str:
        return str(self.message.get("Date", ""))

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""


def read_mailbox(data_dir: Path) -> list[StoredMessage]:
    """Every stored message, oldest first."""
    path = maildir_path(data_dir)
    if not path.exists():
        return []
    box = mailbox.Maildir(path, create=False)
    parser = BytesParser(policy=policy.default)
    messages = []
    for key in box.iterkeys():
        with box.get_file(key) as fh:
            raw = fh.read()
        messages.append(StoredMessage(key, parser.parsebytes(raw), raw))
    messages.sort(key=lambda m: (box.get_message(m.key).get_date(), m.key))
    return messages
