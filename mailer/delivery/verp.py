"""VERP return paths: ``bounces+<row>-<mac>@domain`` names the outbox row a bounce is about.

The token is the outbox row id and an HMAC of it, lower-case hex so that a relay that changes
the case of a local part does not break it; only a token we signed is believed."""

from __future__ import annotations

import hmac
import re

_MAC_CHARS = 16  # 64 bits: enough against guessing, short enough for any MTA
_TOKEN = re.compile(r"\+([1-9][0-9]{0,18})-([0-9a-f]{16})@", re.IGNORECASE)


def _mac(secret: bytes, row_id: int) -> str:
    return hmac.digest(secret, f"verp|{row_id}".encode(), "sha256").hex()[:_MAC_CHARS]


def address(secret: bytes, base: str, row_id: int) -> str:
    """The envelope sender for outbox row ``row_id``: ``base`` with ``+<row>-<mac>`` added."""
    local, domain = base.rsplit("@", 1)
    return f"{local}+{row_id}-{_mac(secret, row_id)}@{domain}"


def find(secret: bytes, text: str) -> int | None:
    """The outbox row of the first validly signed VERP token in ``text`` (any header or body)."""
    for match in _TOKEN.finditer(text):
        row_id, mac = int(match.group(1)), match.group(2).lower()
        if hmac.compare_digest(mac, _mac(secret, row_id)):
            return row_id
    return None
