"""A real Dovecot (Debian's dovecot-imapd and dovecot-pop3d) serving one Maildir over POP3 and
IMAP on loopback ports, for the bounce-mailbox tests. It runs as a child process in a temp dir."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mailer.delivery.devmailbox import free_port

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "bounce-secret"

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{root}/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
pop3_uidl_format = %08Xu%08Xv
"""


@dataclass(frozen=True)
class Dovecot:
    maildir: Path
    pop3_port: int
    imap_port: int

    def url(self, scheme: str) -> str:
        port = self.pop3_port if scheme == "pop3" else self.imap_port
        return f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}/INBOX" if scheme == "imap" else \
            f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}"

    def deliver(self, name: str, data: bytes) -> None:
        """Put a message into new/ the way an MTA does (write in tmp/, then rename)."""
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(data)
        shutil.chown(tmp, "nobody", "nogroup")
        tmp.rename(self.maildir / "new" / name)


def available() -> bool:
    return os.path.exists(DOVECOT) and os.geteuid() == 0


@contextmanager
def running() -> Iterator[Dovecot]:
    root = Path(tempfile.mkdtemp(prefix="mailer-dovecot-"))
    root.chmod(0o755)  # the mail processes run as nobody
    try:
        for sub in ("run", "state", "home", "Maildir/new", "Maildir/cur", "Maildir/tmp"):
            (root / sub).mkdir(parents=True)
        for sub in ("home", "Maildir", "Maildir/new", "Maildir/cur", "Maildir/tmp"):
            shutil.chown(root / sub, "nobody", "nogroup")
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        pop3, imap = free_port(), free_port()
        (root / "dovecot.conf").write_text(CONFIG.format(root=root, pop3=pop3, imap=imap))
        proc = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(pop3, imap, proc, root)
            yield Dovecot(root / "Maildir", pop3, imap)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(pop3: int, imap: int, proc: subprocess.Popen[bytes], root: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot exited: {log}")
        try:
            for port in (pop3, imap):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("dovecot did not start listening")
