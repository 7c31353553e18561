"""Where bounce reports wait: a Maildir, or a POP3 or IMAP mailbox. Each source lists its
messages, then deletes those handled and leaves the rest (marked seen where it can) for a person.
Blocking stdlib clients (poplib, imaplib, mailbox); callers run them in a thread."""

from __future__ import annotations

import imaplib
import mailbox
import poplib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from mailer.core.urls import MailboxConfig


class Source(Protocol):
    def messages(self) -> Iterator[tuple[str, bytes]]: ...

    def delete(self, key: str) -> None: ...

    def keep(self, key: str) -> None: ...

    def close(self) -> None: ...


class MaildirSource:
    """New and unseen messages of a Maildir (as Postfix or Dovecot deliver them)."""

    def __init__(self, path: Path) -> None:
        if not (path / "new").is_dir() and not (path / "cur").is_dir():
            raise FileNotFoundError(f"{path} is not a Maildir (no new/ or cur/ in it)")
        self.box = mailbox.Maildir(path, create=False)

    def messages(self) -> Iterator[tuple[str, bytes]]:
        for key in list(self.box.keys()):
            msg = self.box.get_message(key)
            if "S" in msg.get_flags():
                continue
            yield key, self.box.get_bytes(key)

    def delete(self, key: str) -> None:
        self.box.discard(key)

    def keep(self, key: str) -> None:
        msg = self.box.get_message(key)
        msg.set_subdir("cur")
        msg.add_flag("S")
        self.box[key] = msg

    def close(self) -> None:
        self.box.close()


class Pop3Source:
    """Every message of a POP3 mailbox; deletions take effect when the session ends."""

    def __init__(self, cfg: MailboxConfig, timeout: float = 60.0) -> None:
        if cfg.tls:
            self.pop: poplib.POP3 = poplib.POP3_SSL(cfg.host, cfg.port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            self.pop = poplib.POP3(cfg.host, cfg.port, timeout=timeout)
        self.pop.user(cfg.username)
        self.pop.pass_(cfg.password)

    def messages(self) -> Iterator[tuple[str, bytes]]:
        count, _ = self.pop.stat()
        for number in range(1, count + 1):
            _, lines, _ = self.pop.retr(number)
            yield str(number), b"\r\n".join(lines) + b"\r\n"

    def delete(self, key: str) -> None:
        self.pop.dele(int(key))

    def keep(self, key: str) -> None:
        return None  # POP3 has no flags: it stays, and is read again next time

    def close(self) -> None:
        self.pop.quit()


class ImapSource:
    """Unseen messages of one IMAP folder; handled ones are deleted and expunged at the end."""

    def __init__(self, cfg: MailboxConfig, timeout: float = 60.0) -> None:
        if cfg.tls:
            self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(cfg.host, cfg.port, timeout=timeout,
                                                         ssl_context=ssl.create_default_context())
        else:
            self.imap = imaplib.IMAP4(cfg.host, cfg.port, timeout=timeout)
        self.imap.login(cfg.username, cfg.password)
        status, _ = self.imap.select(_quote(cfg.folder))
        if status != "OK":
            raise OSError(f"IMAP folder {cfg.folder!r} cannot be opened")

    def messages(self) -> Iterator[tuple[str, bytes]]:
        _, data = self.imap.uid("SEARCH", "UNSEEN")
        for uid in (data[0] or b"").split():
            key = uid.decode()
            _, parts = self.imap.uid("FETCH", key, "(BODY.PEEK[])")
            body = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if isinstance(body, bytes):
                yield key, body

    def delete(self, key: str) -> None:
        self.imap.uid("STORE", key, "+FLAGS", "(\\Deleted)")

    def keep(self, key: str) -> None:
        self.imap.uid("STORE", key, "+FLAGS", "(\\Seen)")

    def close(self) -> None:
        try:
            self.imap.expunge()
            self.imap.close()
        finally:
            self.imap.logout()


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def open_source(cfg: MailboxConfig) -> Source:
    if cfg.kind == "maildir":
        assert cfg.path is not None
        return MaildirSource(cfg.path)
    if cfg.kind == "pop3":
        return Pop3Source(cfg)
    return ImapSource(cfg)
