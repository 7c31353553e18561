"""Message-IDs that prove a report answers our mail: ``<{what}.{installation}.{signature}@{domain}>``.

``what`` names the message (``e12.s34`` for edition 12 to subscriber 34, ``confirm.s34.<random>``,
``share.7.<random>``), ``installation`` is this installation's random id (``installation`` table,
made by the migration), and the signature is the keyring's (``mailer.core.signing``, purpose
``message-id``). So a Message-ID is

* stable across retries: a function of what the message is (one-off messages store theirs), so a
  retry after an unknown outcome lets the recipient's client drop the copy;
* unique per installation: a staging copy with the same key and the same ids makes others, and
  neither accepts the other's;
* unguessable: knowing the edition and subscriber ids is not enough to name a message, so a
  forged bounce or complaint that quotes a Message-ID proves nothing unless we signed it.
"""

from __future__ import annotations

import hmac
import re
import secrets
import weakref

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.errors import InvalidToken
from mailer.core.models import Installation
from mailer.core.signing import Keyring

INSTALLATION_CHARS = 10
_MESSAGE_ID = re.compile(r"<([A-Za-z0-9._-]{1,250})@[^<>@\s]{1,255}>")
_INSTALLATIONS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def new_installation_id() -> str:
    """Ten lower-case hex characters (40 random bits): only needs to differ between installations."""
    return secrets.token_hex(INSTALLATION_CHARS // 2)


async def installation_id(session: AsyncSession) -> str:
    """This installation's id, read once per database engine and then kept."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    found = _INSTALLATIONS.get(engine)
    if found is None:
        found = await session.scalar(select(Installation.installation_id).order_by(Installation.id).limit(1))
        if found is None:
            raise RuntimeError("the installation table is empty: run `mailer db upgrade`")
        _INSTALLATIONS[engine] = found
    return found


def local_part(keyring: Keyring, installation: str, what: str) -> str:
    """The part of the Message-ID left of the ``@``, signed with the newest key."""
    return keyring.sign("message-id", f"{what}.{installation}")


def what_of(keyring: Keyring, installation: str, message_id: str) -> str | None:
    """What a Message-ID we signed for this installation names; None for any other (forged,
    guessed, another installation's, made with a key no longer in the ring)."""
    match = _MESSAGE_ID.fullmatch(message_id.strip())
    if match is None:
        return None
    try:
        payload = keyring.verify("message-id", match.group(1))
    except InvalidToken:
        return None
    what, _, made_by = payload.rpartition(".")
    if not what or not hmac.compare_digest(made_by, installation):
        return None
    return what
