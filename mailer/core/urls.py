"""The connection URLs of the settings (relay and bounce mailbox), parsed into values. Pure: each
parser raises ``ValueError`` saying what is wrong, and the settings name the variable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

TlsMode = Literal["none", "starttls", "implicit"]


def redact_url(url: str) -> str:
    """``url`` with its password, if any, shown as ``***``: for printing and logging."""
    parts = urlsplit(url)
    try:
        password = parts.password
    except ValueError:
        password = None
    if not password:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


@dataclass(frozen=True)
class SmtpConfig:
    """A relay parsed from ``MAILER_SMTP_URL``."""

    host: str
    port: int
    tls: TlsMode
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never print the password
        return f"SmtpConfig(host={self.host!r}, port={self.port}, tls={self.tls!r})"


def parse_smtp_url(url: str) -> SmtpConfig:
    """``smtp://`` (plain), ``smtp+starttls://`` or ``smtps://`` (implicit TLS); ``?tls=`` overrides."""
    parts = urlsplit(url)
    schemes: dict[str, TlsMode] = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "implicit"}
    if parts.scheme not in schemes:
        raise ValueError(f"scheme {parts.scheme!r} is not one of smtp, smtp+starttls, smtps")
    tls = schemes[parts.scheme]
    query = parse_qs(parts.query)
    if "tls" in query:
        wanted = query["tls"][-1]
        if wanted not in ("none", "starttls", "implicit"):
            raise ValueError(f"tls {wanted!r} is not one of none, starttls, implicit")
        tls = wanted  # type: ignore[assignment]
    if not parts.hostname:
        raise ValueError("the host is missing")
    try:
        port = parts.port
    except ValueError:
        raw = parts.netloc.rsplit(":", 1)[-1]
        raise ValueError(f"port {raw!r} is not an integer") from None
    if port is None:
        port = 465 if tls == "implicit" else 587 if tls == "starttls" else 25
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


MailboxKind = Literal["maildir", "pop3", "imap"]
_DEFAULT_PORTS = {("pop3", False): 110, ("pop3", True): 995, ("imap", False): 143, ("imap", True): 993}


@dataclass(frozen=True)
class MailboxConfig:
    kind: MailboxKind
    path: Path | None = None  # maildir
    host: str = ""
    port: int = 0
    tls: bool = False
    username: str = ""
    password: str = ""
    folder: str = "INBOX"  # imap

    def __repr__(self) -> str:  # never print the password
        where = str(self.path) if self.kind == "maildir" else f"{self.host}:{self.port}"
        return f"MailboxConfig({self.kind}, {where})"


def parse_mailbox_url(url: str) -> MailboxConfig:
    """``maildir:/path`` (or a bare path), ``pop3[s]://user:pass@host[:port]``,
    ``imap[s]://user:pass@host[:port][/FOLDER]``; raises ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme in ("", "maildir"):
        path = unquote(parts.path if parts.scheme else url)
        if not path:
            raise ValueError("the Maildir path is missing")
        return MailboxConfig("maildir", path=Path(path))
    kinds: dict[str, tuple[MailboxKind, bool]] = {
        "pop3": ("pop3", False), "pop3s": ("pop3", True), "imap": ("imap", False), "imaps": ("imap", True),
    }
    if parts.scheme not in kinds:
        raise ValueError(f"scheme {parts.scheme!r} is not one of maildir, pop3, pop3s, imap, imaps")
    kind, tls = kinds[parts.scheme]
    if not parts.hostname:
        raise ValueError("the host is missing")
    if not parts.username:
        raise ValueError("the user name is missing (pop3://user:password@host)")
    try:
        port = parts.port or _DEFAULT_PORTS[(kind, tls)]
    except ValueError:
        raise ValueError(f"port {parts.netloc.rsplit(':', 1)[-1]!r} is not an integer") from None
    folder = unquote(parts.path.strip("/")) or "INBOX"
    return MailboxConfig(
        kind, host=parts.hostname, port=port, tls=tls, username=unquote(parts.username),
        password=unquote(parts.password or ""), folder=folder,
    )
