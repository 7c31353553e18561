"""``/metrics`` and ``/readyz`` over real HTTP: figures from the database for every worker, this
process's counters, the token, the separate metrics address of real ``serve`` and ``worker``
processes; readiness failing for a stopped relay and an unmigrated database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailer.core.settings import Settings
from mailer.delivery.devmailbox import free_port
from mailer.delivery.service import Service
from mailer.ops.prune import prune
from mailer.shares import records
from tests.conftest import Clock, serve
from tests.support import factories
from tests.support.smtpd import SMTPServer
from tests.support.workers import WORKER, Worker

TOKEN = "metrics-token-for-tests"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(url: str, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        return await client.get(url + "/metrics", headers=headers)


async def test_metrics_come_from_the_database_and_survive_pruning(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mailer.ops.metrics.CACHE_SECONDS", 0.0)  # every scrape reads the database
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, metrics_token=TOKEN)
    svc = await Service(settings, clock=clock).start()
    try:
        await factories.ingest_items(svc, 2, clock.now)
        for address in ("a@example.org", "b@example.org", "gone@example.org"):
            await factories.subscriber(svc, address)
        smtp_server.reject("gone@example.org")
        fire = clock.now
        clock.advance(minutes=7)  # the edition starts seven minutes after its time
        await svc.run_list("daily", fire)
        async with svc.db.transaction() as session:
            await records.add(session, now=clock.now, outcome="honeypot")
            await records.add(session, now=clock.now, outcome="queued")
        async with serve(svc) as url:
            assert (await _scrape(url, None)).status_code == 401
            assert (await _scrape(url, "wrong")).status_code == 401
            before = _samples((await _scrape(url)).text)
            await svc.sender.drain()
            response = await _scrape(url)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
            after = _samples(response.text)
            await prune(svc.db, settings, clock.now + timedelta(days=400))
            pruned = _samples((await _scrape(url)).text)
    finally:
        await svc.close()
    assert before[("mailer_outbox_rows", (("kind", "digest"), ("status", "pending")))] == 3
    assert after[("mailer_outbox_rows", (("kind", "digest"), ("status", "sent")))] == 2
    assert after[("mailer_messages_total", (("kind", "digest"), ("status", "sent")))] == 2
    assert after[("mailer_messages_total", (("kind", "digest"), ("status", "failed")))] == 1
    assert after[("mailer_bounces_total", (("kind", "hard"),))] == 1  # the 550 scored as a hard bounce
    assert after[("mailer_share_refusals_total", (("reason", "honeypot"),))] == 1
    assert after[("mailer_shares_queued_total", ())] == 1
    assert after[("mailer_edition_lag_seconds", (("list", "daily"),))] == 7 * 60
    assert after[("mailer_editions", (("status", "sent"),))] == 1
    two_xx = ("mailer_smtp_replies_total", (("reply_class", "2xx"),))
    five_xx = ("mailer_smtp_replies_total", (("reply_class", "5xx"),))
    assert after[two_xx] - before.get(two_xx, 0) == 2 and after[five_xx] - before.get(five_xx, 0) == 1
    # pruning removed the rows, the events and the share records; the totals did not move
    assert ("mailer_outbox_rows", (("kind", "digest"), ("status", "sent"))) not in pruned
    for key in [k for k in after if k[0] in ("mailer_messages_total", "mailer_bounces_total",
                                              "mailer_share_refusals_total", "mailer_shares_queued_total")]:
        assert pruned[key] == after[key], key


async def test_metrics_are_closed_on_the_public_app_without_a_token(service: Service, live_app: str) -> None:
    assert (await _scrape(live_app, None)).status_code == 404
    assert (await _scrape(live_app, "anything")).status_code == 404


async def test_readiness_needs_the_database_migrated_and_the_relay_answering(
    service: Service, live_app: str, smtp_server: SMTPServer, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        ready = await client.get("/readyz")
        smtp_server.stop()
        relay_down = await client.get("/readyz")
        smtp_server.start()
        again = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "database": "ok", "relay": "ok"})
    assert (relay_down.status_code, relay_down.json()) == (503, {"ready": False, "database": "ok", "relay": "failed"})
    assert again.status_code == 200
    empty = await Service(make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
                                        smtp_url=smtp_server.url)).start(migrate=False)
    try:
        async with serve(empty) as url, httpx.AsyncClient(base_url=url) as client:
            unmigrated = await client.get("/readyz")
    finally:
        await empty.close()
    assert (unmigrated.status_code, unmigrated.json()["database"]) == (503, "failed")


async def _get_when_up(url: str, process: Worker) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if process.proc.poll() is not None:
                raise AssertionError(process.output())
            try:
                return await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered: {process.output()}")


@pytest.mark.slow
async def test_serve_and_worker_expose_metrics_on_their_own_address(
    settings: Settings, clock: Clock, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    svc = await Service(settings).start()
    try:
        await factories.ingest_items(svc, 2, svc.clock())
        for n in range(3):
            await factories.subscriber(svc, f"reader{n}@example.org")
        await svc.run_list("daily", svc.clock())
    finally:
        await svc.close()
    web_port, metrics_port, worker_port = free_port(), free_port(), free_port()
    server = Worker(settings, "serve", tmp_path / "serve.log", command=[*WORKER[:-1], "serve", "--no-scheduler"],
                    env={"MAILER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}", "MAILER_WEB_PORT": str(web_port)})
    worker = Worker(settings, "w1", tmp_path / "worker.log", args=("--metrics-address", f"127.0.0.1:{worker_port}"))
    try:
        await asyncio.to_thread(smtp_server.wait_for, 3, 60)
        shared = await _get_when_up(f"http://127.0.0.1:{metrics_port}/metrics", server)
        public = await _get_when_up(f"http://127.0.0.1:{web_port}/metrics", server)
        ready = await _get_when_up(f"http://127.0.0.1:{metrics_port}/readyz", server)
        own = await _get_when_up(f"http://127.0.0.1:{worker_port}/metrics", worker)
    finally:
        for process in (worker, server):
            process.stop()
    assert public.status_code == 404  # not on the public address without a token
    assert ready.status_code == 200
    shared_samples, own_samples = _samples(shared.text), _samples(own.text)
    assert sum(v for (name, labels), v in shared_samples.items() if name == "mailer_messages_total"
               and ("status", "sent") in labels) == 3
    # the worker sent them (serve and the worker share the outbox): its counters say so
    sent_by_worker = own_samples.get(("mailer_smtp_replies_total", (("reply_class", "2xx"),)), 0)
    sent_by_serve = _samples(shared.text).get(("mailer_smtp_replies_total", (("reply_class", "2xx"),)), 0)
    assert sent_by_worker + sent_by_serve == 3
    assert "mailer_messages_total" not in own.text  # database figures only on serve: no double count

