"""VERP return paths: ``bounces+<row>-<signature>@domain`` names the outbox row a bounce is about.

The token is the outbox row id signed by the keyring in its ``HEX`` style (lower-case hex, key id
and MAC), so that a relay that changes the case of a local part does not break it, and a bounce
of mail sent before a key rotation is still attributed; only a token we signed is believed."""

from __future__ import annotations

import re

from mailer.core.errors import InvalidToken
from mailer.core.signing import HEX, Keyring

# ``{row}-{key id}{mac}`` (22 hex digits), or from before key ids ``{row}-{mac}`` (16): bounces of
# mail sent then still arrive for a few days, and cost one MAC per key to check.
_TOKEN = re.compile(rf"\+([1-9][0-9]{{0,18}})-([0-9a-f]{{{HEX.mac_chars}}}(?:[0-9a-f]{{{HEX.kid_chars}}})?)@",
                    re.IGNORECASE)


def address(keyring: Keyring, base: str, row_id: int) -> str:
    """The envelope sender for outbox row ``row_id``: ``base`` with ``+<row>-<signature>`` added."""
    local, domain = base.rsplit("@", 1)
    return f"{local}+{keyring.sign('verp', str(row_id), style=HEX)}@{domain}"


def find(keyring: Keyring, text: str) -> int | None:
    """The outbox row of the first validly signed VERP token in ``text`` (any header or body)."""
    for match in _TOKEN.finditer(text):
        row, signature = match.group(1), match.group(2)
        try:
            if len(signature) == HEX.mac_chars:
                keyring.verify_legacy("verp", (row,), signature, style=HEX)
            else:
                keyring.verify("verp", f"{row}-{signature}", style=HEX)
        except InvalidToken:
            continue
        return int(row)
    return None
