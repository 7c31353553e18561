"""The site's home page and the digests' public pages (issue 14, points 9 and 10): "زيارة الموقع"
leads to ``MAILER_SITE_URL`` or the feed's channel link, never to this service; every digest
links to its web version, which the list's archive lists; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

import httpx

from mailer.articles import ingest, site
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from tests.conftest import Clock, serve
from tests.support import factories
from tests.support.smtpd import SMTPServer

CHANNEL = "https://www.news.example.com/"
VISIT = re.compile(r'<a href="([^"]+)"[^>]*>زيارة الموقع</a>')
WEB_VERSION = re.compile(r'<a href="([^"]+)"[^>]*>عرض النشرة في المتصفح</a>')
TRACKED = re.compile(r'href="[^"]*/r/[^"?]+\?u=([^"&]+)"')  # click tracking (on by default) wraps site links


def landing(html: str) -> str:
    """The HTML with each tracked link replaced by where it lands (its signed target)."""
    return TRACKED.sub(lambda m: f'href="{unquote(m[1])}"', html)


def feed(clock: Clock, channel: str = CHANNEL) -> bytes:
    data = factories.rss(factories.item(n, clock.now, section=("سياسة", "رياضة")[n % 2]) for n in range(1, 6))
    return data.replace(b"<link>https://news.example.com</link>", f"<link>{channel}</link>".encode())


async def send_digest(service: Service, clock: Clock, smtp_server: SMTPServer, data: bytes) -> str:
    parsed = ingest.parse_feed(data, now=clock.now)
    async with service.db.transaction() as session:
        await ingest.store_feed(session, parsed)
    await factories.subscriber(service, "reader@example.org", name="سارة")
    result = await service.run_list("daily", clock.now)
    assert result.action == "sending"
    await service.sender.drain()
    (received,) = smtp_server.received
    return landing(str(received.message.get_body(("html",)).get_content()))


async def test_visit_the_site_goes_to_the_feeds_channel_link(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    html = await send_digest(service, clock, smtp_server, feed(clock))
    assert VISIT.findall(html) == [CHANNEL]
    assert re.search(rf'<p class="site-name"[^>]*><a href="{re.escape(CHANNEL)}"', html)  # the masthead too
    assert f'href="{service.settings.base_url}"' not in html and f'href="{service.settings.base_url}/"' not in html
    # a feed that moves its home page moves the link
    async with service.db.transaction() as session:
        await site.remember_channel(session, "https://news2.example.com/")
        assert await site.home_url(session, service.settings) == "https://news2.example.com/"


async def test_the_setting_wins_over_the_feed_and_the_root_sends_readers_on(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, site_url="https://site.example.org/")
    service = await Service(settings, clock=clock).start()
    try:
        html = await send_digest(service, clock, smtp_server, feed(clock))
        assert VISIT.findall(html) == ["https://site.example.org/"]
        async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
            root = await client.get("/")
        assert root.status_code == 303 and root.headers["location"] == "https://site.example.org/"
    finally:
        await service.close()


async def test_every_digest_has_a_public_web_version_listed_in_the_archive(
    service: Service, clock: Clock, smtp_server: SMTPServer
) -> None:
    async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/archive/daily")).status_code == 200  # no edition yet: an empty archive
        html = await send_digest(service, clock, smtp_server, feed(clock))
        (link,) = WEB_VERSION.findall(html)
        assert link.startswith(f"{service.settings.base_url}/archive/daily/")
        path = link.removeprefix(service.settings.base_url)
        archive = await client.get("/archive/daily")
        assert archive.status_code == 200 and f'href="{link}"' in archive.text
        assert "عنوان الخبر رقم 1 عن العراق" in archive.text  # each edition by its lead headline
        web = await client.get(path)
        assert web.status_code == 200 and web.headers["content-type"].startswith("text/html")
        assert '<html dir="rtl" lang="ar">' in web.text
        assert all(f"عنوان الخبر رقم {n} عن العراق" in web.text for n in range(1, 6))
        for personal in ("سارة", "/u/", "/p/", "reader@example.org", "mailerslot"):
            assert personal not in web.text
        # only what went out is public: an unknown edition, another list's path, an unknown list
        edition_id = int(path.rsplit("/", 1)[1])
        assert (await client.get(f"/archive/daily/{edition_id + 1}")).status_code == 404
        assert (await client.get(f"/archive/weekly/{edition_id}")).status_code == 404
        assert (await client.get("/archive/nope")).status_code == 404
        root = await client.get("/")
        assert root.status_code == 303 and root.headers["location"] == CHANNEL


async def test_a_feed_without_a_usable_channel_link_changes_nothing(clock: Clock) -> None:
    parsed = ingest.parse_feed(feed(clock, channel="javascript:alert(1)"), now=clock.now)
    assert parsed.channel_link is None and [p.position for p in parsed.problems] == ["channel"]
    assert ingest.parse_feed(feed(clock), now=clock.now).channel_link == CHANNEL
