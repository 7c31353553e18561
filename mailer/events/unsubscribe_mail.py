"""The ``mailto:`` unsubscribe of ``List-Unsubscribe``: mail sent to ``MAILER_UNSUBSCRIBE_ADDRESS``
lands in a Maildir (the development mailbox, or the mailbox the MTA delivers that address to),
and each message whose subject carries a valid unsubscribe token unsubscribes its subscriber.

Only the subject counts: it is what the ``mailto:`` link sets (``subject=unsubscribe TOKEN``), and
a digest forwarded to the address by mistake has its token only in the body. A processed message
is marked seen (moved to ``cur/`` with flag ``S``), so running again does nothing twice.
"""

from __future__ import annotations

import asyncio
import mailbox
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from pathlib import Path

from mailer.core.errors import InvalidInput
from mailer.delivery.service import Service
from subscribers import flows, tokens

_TOKEN = re.compile(rf"\bunsubscribe\s+({tokens.PATTERN})(?![A-Za-z0-9_-])", re.I)
_RECIPIENT_HEADERS = ("X-RcptTo", "Delivered-To", "X-Original-To", "To", "Cc")


def _header(msg: Message, name: str) -> list[str]:
    return [str(make_header(decode_header(v))) for v in msg.get_all(name, [])]


def addressed_to(msg: Message, address: str) -> bool:
    """Whether the message was sent to ``address`` (envelope headers first, then To and Cc)."""
    wanted = address.lower()
    values = [v for name in _RECIPIENT_HEADERS for v in _header(msg, name)]
    return any(addr.lower() == wanted for _, addr in getaddresses(values))


def token_in(msg: Message) -> str | None:
    subject = " ".join(_header(msg, "Subject"))
    match = _TOKEN.search(subject)
    return match.group(1) if match else None


@dataclass
class Processed:
    unsubscribed: int = 0
    invalid: int = 0  # to the address, but without a valid token


async def process_maildir(svc: Service, path: Path) -> Processed:
    """Handle every unseen message in ``path`` that was sent to the unsubscribe address."""
    result = Processed()
    if not await asyncio.to_thread(path.is_dir):
        raise InvalidInput("maildir", f"{str(path)!r} is not a Maildir")
    box = mailbox.Maildir(path, create=False)
    address = svc.settings.unsubscribe_mailto
    for key in list(box.iterkeys()):
        msg = box.get_message(key)
        if "S" in msg.get_flags() or not addressed_to(msg, address):
            continue
        token = token_in(msg)
        try:
            if token is None:
                raise InvalidInput("subject", "no unsubscribe token")
            link = tokens.check(svc.settings.keyring, "unsubscribe", token)
            async with svc.db.transaction() as session:
                await flows.unsubscribe(session, (await flows.holder(session, link)).id, svc.clock())
        except InvalidInput:
            result.invalid += 1
        else:
            result.unsubscribed += 1
        msg.set_subdir("cur")
        msg.add_flag("S")
        box[key] = msg
    return result
