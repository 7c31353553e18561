"""Sending limits: the global pace and the per-domain concurrency cap."""

from __future__ import annotations

import asyncio

from mailer.delivery.limits import LimitedTransport, Pace
from mailer.delivery.outcomes import Outcome, Verdict
from mailer.delivery.transport import MemoryTransport


async def test_the_pace_spaces_callers_evenly() -> None:
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))

    pace = Pace(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        await pace.wait()
    assert waits == [0.1, 0.2, 0.3]  # the first goes at once, then one every 1/10 s
    now[0] += 5  # idle for a while: no burst credit is saved up beyond the next slot
    await pace.wait()
    assert waits == [0.1, 0.2, 0.3]


async def test_no_rate_means_no_waiting() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pace = Pace(0, sleep=sleep)
    for _ in range(100):
        await pace.wait()
    assert waits == []


class SlowTransport(MemoryTransport):
    """Holds each message until released, so concurrency can be observed."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def send(self, sender: str, recipient: str, data: bytes, *, canonical: bool = False) -> Outcome:
        await self.release.wait()
        return await super().send(sender, recipient, data, canonical=canonical)


async def test_at_most_n_transactions_per_domain_at_once() -> None:
    inner = SlowTransport()
    transport = LimitedTransport(inner, rate=0, domain_concurrency=3)
    recipients = [f"u{n}@gmail.com" for n in range(10)] + [f"u{n}@yahoo.com" for n in range(2)]
    tasks = [asyncio.create_task(transport.send("b@x.example", r, b"m")) for r in recipients]
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.domains.in_flight["gmail.com"] == 3  # the rest wait for a slot
    assert transport.domains.in_flight["yahoo.com"] == 2  # another domain is not held up
    inner.release.set()
    outcomes = await asyncio.gather(*tasks)
    assert {o.verdict for o in outcomes} == {Verdict.SENT}
    assert transport.domains.peak["gmail.com"] == 3 and len(inner.sent) == 12
