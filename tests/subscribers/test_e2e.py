"""The whole subscriber life over HTTP against the running app and a real SMTP server: join,
confirm by POST, get the digest, leave with one click as Gmail sends it, get nothing more."""

from __future__ import annotations

import re

import httpx

from mailer.delivery.service import Service
from tests.conftest import Clock
from tests.mailer.test_digest_e2e import Tags
from tests.subscribers.helpers import link, news, one_click_path, page, status_of, to
from tests.support import factories
from tests.support.smtpd import SMTPServer

ARABIC = re.compile(r"[\u0600-\u06ff]")


def rtl_html(html: str) -> None:
    tags = Tags()
    tags.feed(html)
    html_tag = next(attrs for tag, attrs in tags.tags if tag == "html")
    assert html_tag["dir"] == "rtl" and html_tag["lang"] == "ar"
    assert all(attrs.get("dir") == "rtl" for tag, attrs in tags.tags if tag == "table")
    assert "text-align:right" in html


async def test_join_confirm_receive_leave_by_one_click(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await news(service, range(1, 4), clock.now)
    await factories.subscriber(service, "other@example.net")  # keeps later digests non-empty
    async with httpx.AsyncClient(base_url=live_app) as client:
        form = await client.get("/subscribe")
        assert form.status_code == 200 and 'dir="rtl"' in form.text and 'lang="ar"' in form.text
        reply = await client.post("/subscribe", data={"email": "Reader+news@Example.org", "name": "ليلى",
                                                      "frequency": "daily"})
        assert reply.status_code == 200 and ARABIC.search(reply.text)
        assert await status_of(service, "Reader+news@example.org") == "pending"

        await service.sender.drain()
        [confirmation] = smtp_server.wait_for(1)
        assert to(confirmation) == "Reader+news@example.org"
        msg = confirmation.message
        assert ARABIC.match(str(msg["Subject"])) and "List-Unsubscribe" not in msg
        rtl_html(msg.get_body(("html",)).get_content())
        # what a stranger typed into the form does not reach an address that confirmed nothing
        assert "مرحباً،" in msg.get_body(("plain",)).get_content()
        assert not any("ليلى" in msg.get_body((part,)).get_content() for part in ("plain", "html"))
        confirm_path = link(confirmation, "/c/")
        assert len(confirm_path.removeprefix("/c/")) >= 32

        page = await client.get(confirm_path)  # what a link scanner does
        assert page.status_code == 200 and 'method="post"' in page.text
        assert await status_of(service, "Reader+news@example.org") == "pending"
        confirmed = await client.post(confirm_path)
        assert confirmed.status_code == 200 and "/p/" in confirmed.text
        assert await status_of(service, "Reader+news@example.org") == "confirmed"

        await service.sender.drain()
        welcome = smtp_server.wait_for(2)[1]
        assert to(welcome) == "Reader+news@example.org" and "List-Unsubscribe" in welcome.message
        assert "ليلى" in welcome.message.get_body(("plain",)).get_content()

        await service.run_list("daily", clock.now)
        await service.sender.drain()
        digests = [r for r in smtp_server.received[2:] if to(r) == "Reader+news@example.org"]
        assert len(digests) == 1
        assert "عنوان الخبر رقم 1 عن العراق" in digests[0].message.get_body(("html",)).get_content()

        # one-click unsubscribe exactly as Gmail sends it
        request = client.build_request(
            "POST", one_click_path(digests[0]), content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert request.headers["Content-Length"] == "26" and "cookie" not in request.headers
        left = await client.send(request)
        assert left.status_code == 200 and "location" not in left.headers and not left.history
        assert await status_of(service, "Reader+news@example.org") == "unsubscribed"

    clock.advance(days=1)
    await news(service, range(10, 13), clock.now)
    before = len(smtp_server.received)
    result = await service.run_list("daily", clock.now)
    assert result.action == "sending"
    await service.sender.drain()
    later = smtp_server.received[before:]
    assert [to(r) for r in later] == ["other@example.net"]


MULTIPART = (
    b"--b0undary\r\n"
    b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
    b"One-Click\r\n"
    b"--b0undary--\r\n"
)


async def test_one_click_multipart_is_idempotent_and_get_changes_nothing(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await news(service, range(1, 3), clock.now)
    await factories.subscriber(service, "reader@example.org")
    await service.run_list("daily", clock.now)
    await service.sender.drain()
    [digest] = smtp_server.received
    path = one_click_path(digest)
    async with httpx.AsyncClient(base_url=live_app) as client:
        for _ in range(3):
            shown = await client.get(path)
            assert shown.status_code == 200 and 'method="post"' in shown.text
        assert await status_of(service, "reader@example.org") == "confirmed"
        headers = {"Content-Type": "multipart/form-data; boundary=b0undary"}
        first = await client.post(path, content=MULTIPART, headers=headers)
        second = await client.post(path, content=MULTIPART, headers=headers)
    assert first.status_code == second.status_code == 200
    assert page(first) == page(second)
    assert await status_of(service, "reader@example.org") == "unsubscribed"
