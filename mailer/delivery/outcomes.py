"""What an SMTP reply means for a message: a pure table, and the backoff for retries.

A permanent reply that blames the message or its sender (5.7.x policy and spam verdicts, 5.3.x
and 5.6.x, a refused MAIL FROM, the providers' wording for the same) is ``REFUSED``: no bounce
for the recipient, one more try later, and ``REFUSALS_TO_PAUSE`` of them in a row pause the
edition. Whether a reply blames the mailbox is decided by ``subscribers.bounces.judge``, the
same rule that DSNs from the bounce mailbox follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from subscribers.bounces import judge

REFUSALS_TO_PAUSE = 5  # replies in a row refusing the message itself: the edition pauses


class Verdict(StrEnum):
    SENT = "sent"  # 2xx after DATA
    RETRY = "retry"  # 4xx, or the connection failed before the end of DATA
    FAILED = "failed"  # 5xx about the recipient: permanent, a hard bounce for the subscriber
    REFUSED = "refused"  # 5xx about the message or the sender: not the recipient's fault
    UNKNOWN = "unknown"  # no reply after the final "." of DATA: maybe delivered


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    code: int | None = None
    message: str = ""


def classify(code: int | None, text: str = "", *, after_data: bool = False, stage: str = "DATA") -> Verdict:
    """``code`` None means no reply at all (timeout or dropped connection); ``text`` is the
    reply's text and ``stage`` the command it answered (MAIL, RCPT or DATA)."""
    if code is None:
        return Verdict.UNKNOWN if after_data else Verdict.RETRY
    if 200 <= code < 300:
        return Verdict.SENT
    if 400 <= code < 500:
        return Verdict.RETRY
    if stage == "MAIL" or judge(text) == "refused":  # MAIL FROM names no recipient yet
        return Verdict.REFUSED
    return Verdict.FAILED


def backoff(attempt: int, *, first: timedelta = timedelta(minutes=2),
            ceiling: timedelta = timedelta(hours=4)) -> timedelta:
    """Delay before retry number ``attempt`` (1-based): 2, 4, 8 ... minutes, at most 4 hours."""
    return min(first * (1 << max(attempt - 1, 0)), ceiling)
