"""This process's own Prometheus counters (prometheus-client), in one registry.

What every process shares (outbox rows, totals, bounces, shares, edition lag) is read from the
database when ``/metrics`` is scraped (``mailer/ops/metrics.py``); what only a process sees (the
SMTP replies it got, its batches, its feed fetches) is counted here and exposed by that process:
``mailer serve`` on ``/metrics``, ``mailer worker`` on ``MAILER_METRICS_ADDRESS``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

PROCESS = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=PROCESS)

SMTP_REPLIES = Counter(
    "mailer_smtp_replies", "SMTP replies to this process's transactions, by class (none: no reply)",
    ["reply_class"], registry=PROCESS,
)
BATCHES = Counter("mailer_batches", "Outbox batches this process sent and recorded", registry=PROCESS)
BATCH_SECONDS = Histogram(
    "mailer_batch_seconds", "Seconds from claiming a batch to recording its outcomes", registry=PROCESS,
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
FEED_ERRORS = Counter("mailer_feed_poll_errors", "Feed fetches that failed in this process", registry=PROCESS)


def reply_class(code: int | None) -> str:
    """``2xx``, ``4xx``, ``5xx`` (any other code as its first digit), or ``none``."""
    return f"{code // 100}xx" if code is not None else "none"
