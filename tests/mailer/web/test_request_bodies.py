"""Request bodies are bounded before anything parses them (issue 13, point 4), and every refusal,
Starlette's own included, is Arabic for people and JSON with the field for API clients (point 15)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from mailer.delivery.service import Service
from tests.conftest import API_TOKEN

ARABIC = re.compile(r"[\u0600-\u06ff]{3,}")
BIG = 30 * 1024 * 1024


async def chunks(total: int, first: bytes = b'{"email": "a@example.org", "name": "') -> AsyncIterator[bytes]:
    """A body sent in pieces with no Content-Length (chunked): the size is known only by counting."""
    yield first
    sent = len(first)
    while sent < total:
        piece = b"a" * min(1024 * 1024, total - sent)
        sent += len(piece)
        yield piece
    yield b'"}'


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_huge_json_body_to_subscribe_is_refused_unread(
    service: Service, live_app: str, declared: bool
) -> None:
    async with httpx.AsyncClient(base_url=live_app, timeout=60) as client:
        body = b"".join([piece async for piece in chunks(BIG)]) if declared else chunks(BIG)
        reply = await client.post("/subscribe", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    answer = reply.json()
    assert answer["field"] == "body" and ARABIC.search(answer["message"])


async def test_oversized_forms_get_the_arabic_page(service: Service, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app, timeout=60) as client:
        form = await client.post("/subscribe", data={"email": "a@example.org", "name": "ب" * 200_000})
        multipart = await client.post("/subscribe", files={"email": (None, "a@example.org"),
                                                           "name": (None, "ب" * 2_000_000)})
        share = await client.post("/share", data={"article_id": "1", "note": "x" * 100_000})
        login = await client.post("/editor/login", data={"name": "sara", "password": "p" * 2_000_000})
    for reply in (form, multipart, share, login):
        assert reply.status_code == 413, reply.text[:300]
        assert reply.headers["content-type"].startswith("text/html")
        assert ARABIC.search(reply.text) and "Part exceeded" not in reply.text


async def test_the_api_keeps_room_for_large_articles_and_bounces(service: Service, live_app: str) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    article = {"url": "https://news.example.com/long", "title": "خبر طويل", "body": "<p>" + "ن" * 200_000 + "</p>"}
    async with httpx.AsyncClient(base_url=live_app, timeout=60, headers=headers) as client:
        accepted = await client.post("/api/articles", json=article)
        huge = await client.post("/api/articles", content=json.dumps({**article, "body": "x" * BIG}),
                                 headers={"Content-Type": "application/json"})
    assert accepted.status_code == 200, accepted.text
    assert huge.status_code == 413 and huge.json()["field"] == "body"


async def test_starlettes_own_refusals_are_arabic(service: Service, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        many = await client.post("/subscribe", data={f"f{n}": "x" for n in range(300)})
        missing = await client.get("/no/such/page")
        wrong_method = await client.put("/subscribe")
        api_missing = await client.get("/api/nothing-here")
    for reply in (many, missing, wrong_method):
        assert 400 <= reply.status_code < 500
        assert reply.headers["content-type"].startswith("text/html"), reply.text[:200]
        assert ARABIC.search(reply.text) and "Too many fields" not in reply.text
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert api_missing.status_code == 404 and ARABIC.search(api_missing.json()["message"])
