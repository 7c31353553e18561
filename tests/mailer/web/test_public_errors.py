"""Every public input answers 4xx with an Arabic message (JSON with a field for API clients),
never 500 (issue 13, point 9)."""

from __future__ import annotations

import re

import httpx

from mailer.delivery.service import Service
from tests.conftest import API_TOKEN, Clock
from tests.support import factories

ARABIC = re.compile(r"[\u0600-\u06ff]{3,}")


async def test_out_of_range_values_are_refused_by_field(service: Service, clock: Clock, live_app: str) -> None:
    await factories.ingest_items(service, 1, clock.now)
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    article = {"url": "https://news.example.com/x", "title": "خبر"}
    async with httpx.AsyncClient(base_url=live_app) as client:
        cases = {
            "sections": await client.post("/subscribe", json={"email": "a@example.org", "sections": [10**20]}),
            "published_at": await client.post("/api/articles", headers=api,
                                              json={**article, "published_at": "0001-01-01T00:00:00+03:00"}),
            "limit": await client.get("/api/editions", headers=api, params={"limit": -5}),
        }
        form = await client.post("/subscribe", data={"email": "a@example.org", "sections": str(2**63)})
    for field, reply in cases.items():
        assert reply.status_code == 400, (field, reply.text)
        assert reply.json()["field"] == field and ARABIC.search(reply.json()["message"])
    assert form.status_code == 400 and ARABIC.search(form.text)
