"""What an SMTP reply means for a message: a pure table, and the backoff for retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Verdict(StrEnum):
    SENT = "sent"  # 2xx after DATA
    RETRY = "retry"  # 4xx, or the connection failed before the end of DATA
    FAILED = "failed"  # 5xx: permanent, a hard bounce for the subscriber
    UNKNOWN = "unknown"  # no reply after the final "." of DATA: maybe delivered


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    code: int | None = None
    message: str = ""


def classify(code: int | None, *, after_data: bool = False) -> Verdict:
    """``code`` None means no reply at all (timeout or dropped connection)."""
    if code is None:
        return Verdict.UNKNOWN if after_data else Verdict.RETRY
    if 200 <= code < 300:
        return Verdict.SENT
    if 400 <= code < 500:
        return Verdict.RETRY
    return Verdict.FAILED


def backoff(attempt: int, *, first: timedelta = timedelta(minutes=2),
            ceiling: timedelta = timedelta(hours=4)) -> timedelta:
    """Delay before retry number ``attempt`` (1-based): 2, 4, 8 ... minutes, at most 4 hours."""
    return min(first * (1 << max(attempt - 1, 0)), ceiling)
