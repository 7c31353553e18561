"""Forged, truncated, expired and reused tokens are refused, change nothing and reveal nothing."""

from __future__ import annotations

import httpx
import hypothesis.strategies as st
import pytest
from hypothesis import given

from mailer.core.errors import InvalidInput
from mailer.core.signing import Keyring
from mailer.delivery.service import Service
from subscribers import tokens
from tests.conftest import SECRET, Clock
from tests.subscribers.helpers import legacy_token, link, page, status_of
from tests.support import factories
from tests.support.smtpd import SMTPServer

KEY = Keyring.of(SECRET)


async def confirmation_link(client: httpx.AsyncClient, svc: Service, smtp: SMTPServer, email: str) -> str:
    await client.post("/subscribe", data={"email": email})
    await svc.sender.drain()
    return link(smtp.received[-1], "/c/")


def flip(token: str) -> str:
    """The same token with its last character changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


async def test_confirmation_tokens(service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        path = await confirmation_link(client, service, smtp_server, "reader@example.org")
        token = path.removeprefix("/c/")
        forged = tokens.new_confirmation()
        for bad in (forged, flip(token), token[:-1], token[:32], token + "x"):
            for method in ("GET", "POST"):
                reply = await client.request(method, f"/c/{bad}")
                assert reply.status_code == 400, (method, bad)
                assert "الرابط غير صالح" in reply.text
        assert await status_of(service, "reader@example.org") == "pending"

        # expired: the default lifetime is 48 hours
        clock.advance(hours=48, seconds=1)
        for method in ("GET", "POST"):
            expired = await client.request(method, path)
            assert expired.status_code == 400 and "انتهت صلاحية" in expired.text
        assert await status_of(service, "reader@example.org") == "pending"

        # a new link (the interval has passed) works once; used again it is refused
        fresh = await confirmation_link(client, service, smtp_server, "reader@example.org")
        assert (await client.post(fresh)).status_code == 200
        assert await status_of(service, "reader@example.org") == "confirmed"
        for method in ("GET", "POST"):
            reused = await client.request(method, fresh)
            assert reused.status_code == 400 and "تم استخدام هذا الرابط" in reused.text
    await service.sender.drain()
    assert len([r for r in smtp_server.received if "أهلاً" in str(r.message["Subject"])]) == 1


async def test_unsubscribe_and_preferences_tokens(service: Service, clock: Clock, live_app: str) -> None:
    victim = await factories.subscriber(service, "victim@example.org")
    other = await factories.subscriber(service, "other@example.org")
    good = tokens.unsubscribe_token(KEY, victim.id, "daily", victim.link_key)
    prefs = tokens.preferences_token(KEY, victim.id, victim.link_key)
    other_mac = tokens.unsubscribe_token(KEY, other.id, "daily", other.link_key).rsplit(".", 1)[1]
    forgeries = {
        "flipped": flip(good),
        "truncated": good[:-1],
        "mac cut to 16": good[: good.rindex(".") + 17],
        "other subscriber's mac": f"{victim.id}.daily.{other_mac}",
        "other list": good.replace(".daily.", ".weekly."),
        "preferences token": prefs,
        "wrong key": tokens.unsubscribe_token(Keyring.of("another-secret-" + "y" * 30), victim.id, "daily",
                                              victim.link_key),
        "signed, without the link key": tokens.unsubscribe_token(KEY, victim.id, "daily", None),
        "signed, another link key": tokens.unsubscribe_token(KEY, victim.id, "daily", other.link_key),
        "old format, forged": f"{victim.id}.daily.{other_mac[-22:]}",
        "old format, other purpose": legacy_token(SECRET, "preferences", victim.id, "daily"),
        "old format, wrong key": legacy_token("another-secret-" + "y" * 30, "unsubscribe", victim.id, "daily"),
    }
    async with httpx.AsyncClient(base_url=live_app) as client:
        bodies = set()
        for name, bad in forgeries.items():
            for body in (b"List-Unsubscribe=One-Click", b""):
                reply = await client.post(f"/u/{bad}", content=body,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert reply.status_code == 400, name
                bodies.add(page(reply))
        assert len(bodies) == 1  # the same answer for every kind of forgery: nothing to learn
        assert await status_of(service, "victim@example.org") == "confirmed"

        for bad in (flip(prefs), prefs[:-1], good):
            assert (await client.get(f"/p/{bad}")).status_code == 400
            assert (await client.post(f"/p/{bad}", data={"action": "leave"})).status_code == 400
        assert await status_of(service, "victim@example.org") == "confirmed"
        assert (await client.get(f"/p/{prefs}")).status_code == 200


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(["daily", "weekly"]),
       st.one_of(st.none(), st.builds(tokens.new_link_key)),
       st.integers(min_value=0, max_value=60), st.characters(codec="ascii"))
def test_any_change_to_a_token_is_refused(
    subscriber: int, list_name: str, link_key: str | None, position: int, char: str
) -> None:
    token = tokens.unsubscribe_token(KEY, subscriber, list_name, link_key)
    assert tokens.check(KEY, "unsubscribe", token) == tokens.Link(subscriber, list_name, link_key)
    i = position % len(token)
    changed = token[:i] + char + token[i + 1:]
    if changed != token:
        with pytest.raises(InvalidInput):
            tokens.check(KEY, "unsubscribe", changed)
    with pytest.raises(InvalidInput):
        tokens.check(KEY, "unsubscribe", token[:i])


def test_confirmation_tokens_are_long_random_and_stored_hashed() -> None:
    made = {tokens.new_confirmation() for _ in range(200)}
    assert len(made) == 200 and all(len(t) >= 32 for t in made)
    token = made.pop()
    assert token not in tokens.confirmation_hash(token)
    for bad in (token[:-1], token + "=", "", "../" + token[3:]):
        with pytest.raises(InvalidInput):
            tokens.confirmation_hash(bad)
