"""The share button by the site's own identity: ``/share/{guid}``, ``/share?url=`` (the link as a
page knows it: query string, fragment, trailing slash, utm_*, scheme, www. and percent-encoding
do not matter), the same for the JSON form token and ``POST /share``; the internal number works
only inside the service's own signed form, where it cannot be mistaken for a site id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

import pytest

from mailer.articles import ingest
from tests.mailer.shares.conftest import Harness

ShareApp = Callable[..., Awaitable[Harness]]


async def site_article(h: Harness, guid: str | None, url: str, title: str) -> int:
    payload = {"url": url, "title": title, "summary": "<p>ملخص</p>", "section": "سياسة"}
    if guid is not None:
        payload["guid"] = guid
    article = ingest.parse_api(payload, now=h.clock.now)
    async with h.svc.db.transaction() as session:
        article_id = (await ingest.store(session, [article])).ids[0]
    h.guids[article_id] = article.guid
    return article_id


async def title_of(h: Harness, path: str, **params: str) -> str:
    reply = await h.client.get(path, params=params, headers={"Accept": "application/json"})
    assert reply.status_code == 200, (path, params, reply.text)
    return str(reply.json()["title"])


async def test_the_form_and_token_by_guid_and_by_link(share_app: ShareApp) -> None:
    h = await share_app()
    # the site's own ids are numbers too: its article 1 is not the service's article 1
    other = await site_article(h, "8812", "https://www.news.example.com/politics/8812-baghdad/", "خبر آخر")
    mine = await site_article(h, "1", "https://news.example.com/حوادث/مقال-عن-بغداد", "خبر عن بغداد")
    arabic = await site_article(h, None, "https://news.example.com/article.php?id=77&lang=ar", "مقال بمعرف")
    assert (other, mine) == (1, 2)  # the internal numbers collide with the site's ids

    assert await title_of(h, "/share/1") == "خبر عن بغداد"
    assert await title_of(h, "/share/8812") == "خبر آخر"
    assert await title_of(h, "/share", guid="8812") == "خبر آخر"
    for url in (
        "https://www.news.example.com/politics/8812-baghdad/",
        "https://news.example.com/politics/8812-baghdad",
        "http://news.example.com/politics/8812-baghdad/?utm_source=facebook&utm_medium=social#comments",
        "https://WWW.NEWS.EXAMPLE.COM:443/politics/8812-baghdad?fbclid=abc",
    ):
        assert await title_of(h, "/share", url=url) == "خبر آخر", url
    encoded = "https://news.example.com/" + quote("حوادث/مقال-عن-بغداد") + "/"
    assert await title_of(h, "/share", url=encoded) == "خبر عن بغداد"
    assert await title_of(h, "/share", url="https://news.example.com/حوادث/مقال-عن-بغداد?from=home") == "خبر عن بغداد"
    # a meaningful query string is kept: the parameters in any order, tracking ones ignored
    assert await title_of(h, "/share", url="https://news.example.com/article.php?lang=ar&id=77&utm_campaign=x") == \
        "مقال بمعرف"
    assert arabic == 3
    # an RSS guid is often the link itself, in a form of its own
    assert await title_of(h, "/share/" + quote("https://news.example.com/politics/8812-baghdad/?ref=rss", safe="")) == \
        "خبر آخر"

    page = await h.client.get("/share", params={"url": "https://news.example.com/politics/8812-baghdad"})
    assert page.status_code == 200 and 'dir="rtl"' in page.text and "خبر آخر" in page.text
    for path, params in (("/share/999", {}), ("/share", {"url": "https://elsewhere.example/politics/8812-baghdad"}),
                         ("/share", {"url": "javascript:alert(1)"}), ("/share", {"guid": "no-such"})):
        missing = await h.client.get(path, params=params)
        assert missing.status_code == 404 and "غير موجود" in missing.text, (path, params)
    nothing = await h.client.get("/share")
    assert nothing.status_code == 400 and "لم يُحدَّد الخبر" in nothing.text


async def test_a_link_that_matches_several_articles_but_for_its_query_is_not_guessed(share_app: ShareApp) -> None:
    h = await share_app()
    await site_article(h, None, "https://news.example.com/article.php?id=1", "الأول")
    await site_article(h, None, "https://news.example.com/article.php?id=2", "الثاني")
    assert await title_of(h, "/share", url="https://news.example.com/article.php?id=2") == "الثاني"
    ambiguous = await h.client.get("/share", params={"url": "https://news.example.com/article.php"})
    assert ambiguous.status_code == 404


@pytest.mark.parametrize("as_json", [False, True])
async def test_post_share_by_guid_or_link(share_app: ShareApp, as_json: bool) -> None:
    h = await share_app()
    await site_article(h, "8812", "https://news.example.com/politics/8812", "خبر آخر")
    target = await site_article(h, "1", "https://news.example.com/politics/1", "خبر عن بغداد")
    reply = await h.client.get("/share", params={"url": "https://news.example.com/politics/1?utm_source=x"},
                               headers={"Accept": "application/json"})
    token = reply.json()["form_token"]
    assert reply.json()["article_id"] == target and reply.json()["url"] == "https://news.example.com/politics/1"
    h.clock.advance(seconds=5)
    base = {"friend_email": "friend@example.org", "sender_name": "أحمد", "form_token": token, "website": ""}
    post = (lambda data: h.client.post("/share", json=data)) if as_json else (
        lambda data: h.client.post("/share", data=data))
    by_guid = await post({**base, "guid": "1"})
    assert by_guid.status_code == 202, by_guid.text
    again = await h.client.get("/share/1", headers={"Accept": "application/json"})  # a form token makes one share
    h.clock.advance(seconds=5)
    by_link = await post({**base, "url": "https://news.example.com/politics/1/#top", "friend_email": "two@example.org",
                          "form_token": again.json()["form_token"]})
    assert by_link.status_code == 202, by_link.text
    [first, second] = await h.deliver()
    assert "https://news.example.com/politics/1" in first.message.get_body(("plain",)).get_content()
    assert "خبر عن بغداد" in second.message.get_body(("html",)).get_content()

    # the form's token was served for article 1 of the site: it does not share the site's 8812
    other = await post({**base, "guid": "8812", "friend_email": "three@example.org"})
    assert other.status_code == 400 and (await h.records())[-1].outcome == "bad_form_token"
    both = await post({**base, "guid": "1", "url": "https://news.example.com/politics/1",
                       "friend_email": "four@example.org"})
    assert both.status_code == 400
    unknown = await post({**base, "url": "https://evil.example/politics/1", "friend_email": "five@example.org"})
    assert unknown.status_code == 404
    assert await h.queued_shares() == 2


async def test_the_internal_number_works_only_with_the_services_own_signed_form(share_app: ShareApp) -> None:
    h = await share_app()
    site = await site_article(h, "news-2024-1", "https://news.example.com/a/1", "خبر الموقع")
    # /share/{number} is the site's id: the service's number of an article is not looked up there
    assert (await h.client.get(f"/share/{site}")).status_code == 404
    token = await h.token(site)  # the form (served by guid) carries the internal number, signed
    h.clock.advance(seconds=5)
    reply = await h.client.post("/share", data=h.fields(site, token))
    assert reply.status_code == 202
    form = await h.client.get(h.form_path(site))
    assert f'name="article_id" value="{site}"' in form.text
