"""The mailto: unsubscribe: a mail client sends the List-Unsubscribe mailto to the development
mailbox over real SMTP, and `mailer subscribers unsubscribe-mail` acts on it once."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from typer.testing import CliRunner

from mailer.delivery.devmailbox import DevMailbox, maildir_path
from mailer.delivery.service import Service
from tests.conftest import Clock
from tests.subscribers.helpers import status_of
from tests.support import factories
from tests.support.cli import mailer
from tests.support.smtpd import SMTPServer


async def send(port: int, to: str, subject: str, body: str = "") -> None:
    msg = EmailMessage()
    msg["From"] = "reader@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body or "unsubscribe")
    await aiosmtplib.send(msg, hostname="127.0.0.1", port=port)


async def test_mailto_unsubscribe_through_the_development_mailbox(
    service: Service, smtp_server: SMTPServer, clock: Clock, cli_env: CliRunner, tmp_path: Path
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org")
    await factories.subscriber(service, "keeper@example.org")
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    digests = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    mailto = re.search(r"<(mailto:[^>]+)>", digests["reader@example.org"]["List-Unsubscribe"]).group(1)
    parts = urlsplit(mailto)
    address, subject = unquote(parts.path), parse_qs(parts.query)["subject"][0]
    keeper_mailto = re.search(r"<(mailto:[^>]+)>", digests["keeper@example.org"]["List-Unsubscribe"]).group(1)

    box = DevMailbox(service.settings.data_dir, port=0).start()
    try:
        await send(box.port, address, subject)  # what the mail client does with the mailto
        # the keeper forwards their digest to a friend: the token is in the body, not the subject
        await send(box.port, "friend@example.net", "Fwd: النشرة",
                   body=digests["keeper@example.org"].get_body(("plain",)).get_content() + keeper_mailto)
        await send(box.port, address, "unsubscribe 1.daily.AAAAAAAAAAAAAAAAAAAAAA")  # forged
        await send(box.port, address, "please remove me")  # no token
    finally:
        box.stop()

    code, out, err = await mailer(cli_env, "subscribers", "unsubscribe-mail")
    assert code == 0, err
    assert "1 unsubscribed, 2 without a valid token" in out
    assert await status_of(service, "reader@example.org") == "unsubscribed"
    assert await status_of(service, "keeper@example.org") == "confirmed"
    code, out, _ = await mailer(cli_env, "subscribers", "unsubscribe-mail",
                                str(maildir_path(service.settings.data_dir)))
    assert "0 unsubscribed, 0 without a valid token" in out  # each message is handled once

    code, _, err = await mailer(cli_env, "subscribers", "unsubscribe-mail", str(tmp_path / "nowhere"))
    assert code == 1 and "maildir" in err
