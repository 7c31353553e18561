"""Share requests against an attacker (issue 13, point 16): a form token makes one share, and a
recipient is a plain ``local@domain`` (no %-hack, no bang path: relays that still route those
would deliver elsewhere than the address we checked)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from mailer.shares.checks import ShareInputRefused, check_recipient
from tests.mailer.shares.conftest import Harness

ShareApp = Callable[..., Awaitable[Harness]]


async def test_a_form_token_makes_one_share(share_app: ShareApp) -> None:
    h = await share_app()
    article_id = await h.article()
    token = await h.token(article_id)
    h.clock.advance(seconds=5)
    first = await h.client.post("/share", data=h.fields(article_id, token, friend_email="one@example.org"))
    again = await h.client.post("/share", data=h.fields(article_id, token, friend_email="two@example.org"))
    as_json = await h.client.post("/share", json=h.fields(article_id, token, friend_email="three@example.org"))
    assert first.status_code == 202
    assert again.status_code == 400 and "النموذج" in again.text
    assert as_json.status_code == 400 and as_json.json()["field"] == "form_token"
    assert await h.queued_shares() == 1
    # a refused try does not use the token up: the reader corrects the address and sends again
    token = await h.token(article_id)
    h.clock.advance(seconds=5)
    bad = await h.client.post("/share", data=h.fields(article_id, token, friend_email="not an address"))
    good = await h.client.post("/share", data=h.fields(article_id, token, friend_email="four@example.org"))
    assert (bad.status_code, good.status_code) == (400, 202)


@pytest.mark.parametrize("address", [
    "victim%elsewhere.example@news.example.com", "elsewhere.example!victim@news.example.com",
    "a%b%c@example.org", "host!user@example.org",
])
def test_routing_tricks_in_a_recipient_are_refused(address: str) -> None:
    with pytest.raises(ShareInputRefused) as caught:
        check_recipient(address)
    assert caught.value.field == "friend_email"
