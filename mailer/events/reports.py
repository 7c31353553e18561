"""Reading bounce and complaint reports: DSNs and MTA bounce texts (flufl.bounce) and ARF
feedback reports (RFC 5965). Pure: raw bytes in, a ``Report`` out; ``bounces`` acts on it."""

from __future__ import annotations

import email
import logging
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses, parseaddr

from flufl.bounce import all_failures

from mailer.core.signing import Keyring
from mailer.delivery import verp
from subscribers.bounces import Kind

log = logging.getLogger(__name__)

COMPLAINT_TYPES = {"abuse", "fraud", "other"}  # not: not-spam, auth-failure, dmarc, virus
# Microsoft's older JMRP reports carry no feedback-report part; they come from this address.
JMRP_SENDERS = {"staff@hotmail.com"}
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


@dataclass(frozen=True)
class Report:
    """What a report says. ``kind`` None: not a bounce or complaint (an auto-reply, say)."""

    kind: Kind | None
    row_id: int | None = None  # the outbox row named by a signed VERP token
    message_id: str | None = None  # Message-ID of the original message, when quoted
    addresses: frozenset[str] = frozenset()  # recipients the report names, lower-case
    detail: str = ""


def parse(raw: bytes, keyring: Keyring) -> Report:
    """Classify one raw message received at the bounce address."""
    msg = email.message_from_bytes(raw)
    text = raw.decode("utf-8", "replace")
    row_id = verp.find(keyring, text)
    original = _original_headers(msg)
    message_id = _message_id(original)
    feedback = _feedback_fields(msg)
    if feedback is not None or _is_jmrp(msg):
        return _complaint(feedback or {}, original, row_id, message_id)
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # a detector choking on a malformed message: not a bounce we can read
        log.warning("bounce detectors failed on a message: %s", exc)
        return Report(None, row_id, message_id, detail=f"unreadable: {exc}")
    if permanent:
        return Report("hard", row_id, message_id, _decoded(permanent), _status(msg) or "permanent failure")
    if temporary:
        return Report("soft", row_id, message_id, _decoded(temporary), _status(msg) or "temporary failure")
    return Report(None, row_id, message_id, detail="no bounce or complaint found")


def _decoded(addresses: frozenset[bytes]) -> frozenset[str]:
    return frozenset(a.decode("ascii", "replace").strip().lower() for a in addresses if a)


def _subparts(msg: Message) -> list[Message]:
    return [part for part in msg.walk() if part is not msg]


def _feedback_fields(msg: Message) -> dict[str, str] | None:
    """The fields of the message/feedback-report part, lower-cased names; None if there is none."""
    for part in _subparts(msg):
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):  # the email package parses it as header blocks
            fields: dict[str, str] = {}
            for block in payload:
                if not isinstance(block, Message):
                    continue
                for name, value in block.items():
                    fields.setdefault(name.lower(), str(value).strip())
            return fields
        raw = part.get_payload(decode=True) or b""
        parsed = email.message_from_bytes(bytes(raw) if not isinstance(raw, bytes) else raw)
        return {name.lower(): str(value).strip() for name, value in parsed.items()}
    return None


def _is_jmrp(msg: Message) -> bool:
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    return sender in JMRP_SENDERS and any(
        p.get_content_type() == "message/rfc822" for p in _subparts(msg)
    )


def _original_headers(msg: Message) -> Message | None:
    """The headers of the returned original: a message/rfc822 or text/rfc822-headers part."""
    for part in _subparts(msg):
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return email.message_from_bytes(data)
    return None


def _message_id(original: Message | None) -> str | None:
    if original is None:
        return None
    match = _MESSAGE_ID.search(str(original.get("Message-ID", "")))
    return match.group() if match else None


def _complaint(
    fields: dict[str, str], original: Message | None, row_id: int | None, message_id: str | None
) -> Report:
    feedback_type = fields.get("feedback-type", "abuse").lower()
    agent = fields.get("user-agent", "")
    if feedback_type not in COMPLAINT_TYPES:
        return Report(None, row_id, message_id, detail=f"feedback report of type {feedback_type}")
    addresses = {a for _, a in getaddresses([fields.get("original-rcpt-to", "")]) if "@" in a}
    for header in ("X-HmXmrOriginalRecipient", "To"):  # Microsoft keeps the real one apart
        if addresses or original is None:
            break
        addresses = {a for _, a in getaddresses([str(original.get(header, ""))]) if "@" in a}
    return Report(
        "complaint", row_id, message_id, frozenset(a.lower() for a in addresses),
        f"{feedback_type} report" + (f" from {agent}" if agent else ""),
    )


def _status(msg: Message) -> str:
    """The first Status and Diagnostic-Code of a DSN, for the record."""
    for part in _subparts(msg):
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
        for block in blocks[1:] or blocks:
            status = str(block.get("Status", "")).strip()
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
            if status or diagnostic:
                return f"{status} {diagnostic}".strip()[:500]
    return ""

