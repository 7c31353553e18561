"""``/metrics``: the Prometheus text format (prometheus-client).

Two sources, so that one scrape of one web process is right for any number of workers:

* the database, read at scrape time (at most once per ``CACHE_SECONDS``): outbox rows by status
  and kind, messages by final status and kind (rows still in the outbox plus those ``mailer prune``
  counted into ``outbox_totals``, so it only grows: ``rate(mailer_messages_total{status="sent"}[5m])``
  is messages sent per second), bounces and complaints, share refusals by reason, editions by
  status, and how late each list's last edition started;
* this process's own counters (``mailer/core/metrics.py``): SMTP replies by class, batches, feed
  fetch errors. Each worker exposes its own on ``MAILER_METRICS_ADDRESS``; sum them in Prometheus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import Database
from mailer.core.metrics import PROCESS
from mailer.core.models import BounceEvent, Edition, EventTotal, OutboxMessage, OutboxTotal, ShareRecord
from mailer.delivery.outbox import FINAL
from mailer.shares.records import QUEUED

CACHE_SECONDS = 5.0


async def families(session: AsyncSession) -> list[Metric]:
    """Every metric computed from the database, now."""
    rows = GaugeMetricFamily("mailer_outbox_rows", "Outbox rows now, by status and kind", labels=["status", "kind"])
    messages = CounterMetricFamily("mailer_messages", "Messages that reached a final status, by status and kind",
                                   labels=["status", "kind"])
    final: dict[tuple[str, str], int] = {}
    stmt = select(OutboxMessage.status, OutboxMessage.kind, func.count()).group_by(
        OutboxMessage.status, OutboxMessage.kind)
    for status, kind, n in await session.execute(stmt):
        rows.add_metric([status, kind], n)
        if status in FINAL:
            final[(status, kind)] = final.get((status, kind), 0) + n
    pruned = select(OutboxTotal.status, OutboxTotal.kind, func.sum(OutboxTotal.count)).group_by(
        OutboxTotal.status, OutboxTotal.kind)
    for status, kind, n in await session.execute(pruned):
        final[(status, kind)] = final.get((status, kind), 0) + int(n)
    for (status, kind), n in sorted(final.items()):
        messages.add_metric([status, kind], n)

    bounces = CounterMetricFamily("mailer_bounces", "Bounces and complaints recorded, by kind (hard, soft, complaint)",
                                  labels=["kind"])
    for kind, n in sorted((await _with_pruned(session, BounceEvent.kind, "bounce_events")).items()):
        bounces.add_metric([kind], n)
    shares = await _with_pruned(session, ShareRecord.outcome, "shares")
    refusals = CounterMetricFamily("mailer_share_refusals", "Share requests refused, by reason", labels=["reason"])
    for reason, n in sorted(shares.items()):
        if reason != QUEUED:
            refusals.add_metric([reason], n)
    queued = CounterMetricFamily("mailer_shares_queued", "Share requests accepted and queued")
    queued.add_metric([], shares.get(QUEUED, 0))

    editions = GaugeMetricFamily("mailer_editions", "Editions by status", labels=["status"])
    for status, n in await session.execute(select(Edition.status, func.count()).group_by(Edition.status)):
        editions.add_metric([status], n)
    lag = GaugeMetricFamily("mailer_edition_lag_seconds",
                            "How late the last edition of each list started after its scheduled time", labels=["list"])
    latest = select(func.max(Edition.id)).where(Edition.started_at.is_not(None)).group_by(Edition.list_name)
    for list_name, scheduled, started in await session.execute(
        select(Edition.list_name, Edition.scheduled_at, Edition.started_at).where(Edition.id.in_(latest))
    ):
        if started is not None:
            lag.add_metric([list_name], max(0.0, (started - scheduled).total_seconds()))
    return [rows, messages, bounces, refusals, queued, editions, lag]


async def _with_pruned(session: AsyncSession, column: Any, name: str) -> dict[str, int]:
    """Rows per value of ``column``, plus what pruning counted into ``event_totals`` under ``name``."""
    counts: dict[str, int] = {}
    for value, n in await session.execute(select(column, func.count()).group_by(column)):
        counts[str(value)] = n
    for label, n in await session.execute(
        select(EventTotal.label, EventTotal.count).where(EventTotal.name == name)
    ):
        counts[label] = counts.get(label, 0) + int(n)
    return counts


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


class Exposition:
    """The text a scrape gets; the database part cached for ``CACHE_SECONDS`` so that several
    scrapers (or a hurried one) cost one set of queries."""

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self._text = b""
        self._at = -CACHE_SECONDS
        self._lock = asyncio.Lock()

    async def render(self) -> bytes:
        if self.db is None:
            return generate_latest(PROCESS)
        async with self._lock:
            if time.monotonic() - self._at >= CACHE_SECONDS:
                async with self.db.transaction() as session:
                    computed = await families(session)
                registry = CollectorRegistry(auto_describe=False)
                registry.register(_Fixed(computed))
                self._text = generate_latest(registry)
                self._at = time.monotonic()
            database_part = self._text
        return database_part + generate_latest(PROCESS)
