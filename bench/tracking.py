"""Click tracking's cost: rewriting a variant's links (once per variant, in the render thread)
and answering ``/r/`` (one upsert). Times both through the real app on a real database and prints
them beside a baseline: ``/healthz`` through the same app (the app's own overhead), and the
variant's premailer run (the compose-once work the rewrite joins).

    .venv/bin/python bench/tracking.py [--clicks 2000] [--pg postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

SECRET = "bench-secret-" + "x" * 40


async def measure(url: str, clicks: int, data_dir: Path) -> dict[str, float]:
    import httpx

    from mailer.compose import tracking
    from mailer.compose.variants import edition_tracker, rendered_variant
    from mailer.core.settings import load_settings
    from mailer.delivery.service import Service
    from mailer.editions.planning import ALL_SECTIONS
    from mailer.web.app import create_app
    from tests.support import factories

    now = datetime.now(UTC).replace(microsecond=0)
    settings = load_settings(None, database_url=url, data_dir=data_dir, secret_key=SECRET,
                             base_url="https://news.example.com", sender_address="n@news.example.com",
                             max_articles=20, devmailbox_port=0)
    svc = await Service(settings, clock=lambda: now).start()
    try:
        await factories.ingest_items(svc, 20, now)
        await factories.subscriber(svc, "reader@example.org")
        result = await svc.run_list("daily", now)
        assert result.edition is not None
        async with svc.db.transaction() as session:
            started = time.perf_counter()
            content = await rendered_variant(session, settings, svc.sender.renderer, result.edition, ALL_SECTIONS)
            render = time.perf_counter() - started
            tracker = await edition_tracker(session, settings, result.edition)
        assert tracker is not None
        started = time.perf_counter()
        for _ in range(50):
            tracking.track(content, tracker)
        rewrite = (time.perf_counter() - started) / 50
        target = "https://news.example.com/news/1"
        link = tracker.link(target).removeprefix(settings.base_url)
        assert link.endswith(quote(target, safe=""))
        transport = httpx.ASGITransport(app=create_app(svc))
        later = now + timedelta(minutes=10)
        svc.clock = lambda: later  # type: ignore[method-assign]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"}
            times: dict[str, list[float]] = {"click": [], "healthz": []}
            for _ in range(clicks):
                for name, path in (("click", link), ("healthz", "/healthz")):
                    t0 = time.perf_counter()
                    reply = await client.get(path, headers=headers)
                    times[name].append(time.perf_counter() - t0)
                    assert reply.status_code in (200, 302)
        from sqlalchemy import text

        bare = []
        for _ in range(min(clicks, 500)):
            t0 = time.perf_counter()
            async with svc.db.transaction() as session:
                await session.execute(text("SELECT 1"))
            bare.append(time.perf_counter() - t0)
        return {
            "bare_ms": statistics.median(bare) * 1000,
            "render_ms": render * 1000, "rewrite_ms": rewrite * 1000,
            "click_median_ms": statistics.median(times["click"]) * 1000,
            "click_p95_ms": statistics.quantiles(times["click"], n=20)[18] * 1000,
            "healthz_median_ms": statistics.median(times["healthz"]) * 1000,
        }
    finally:
        await svc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=2000)
    parser.add_argument("--pg", help="a PostgreSQL URL (an empty database) to time as well")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"sqlite": f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"}
        if args.pg:
            runs["postgresql"] = args.pg
        for name, url in runs.items():
            r = asyncio.run(measure(url, args.clicks, Path(tmp) / f"data-{name}"))
            print(f"{name}: a 20-article variant renders and inlines in {r['render_ms']:.1f} ms; its links are "
                  f"rewritten in {r['rewrite_ms']:.2f} ms ({r['rewrite_ms'] / r['render_ms']:.1%} of that), once")
            print(f"{name}: /r/ answers in {r['click_median_ms']:.2f} ms median, {r['click_p95_ms']:.2f} ms p95 "
                  f"over {args.clicks} clicks; /healthz {r['healthz_median_ms']:.2f} ms "
                  f"(ratio {r['click_median_ms'] / r['healthz_median_ms']:.1f}x); a bare transaction (SELECT 1, "
                  f"commit) {r['bare_ms']:.2f} ms")


if __name__ == "__main__":
    main()
