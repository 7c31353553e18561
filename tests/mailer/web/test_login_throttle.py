"""Editor sign-in is throttled per account and per client, and a throttled try costs no Argon2
hash (issue 13, point 7)."""

from __future__ import annotations

import re

import httpx
import pytest

from mailer.delivery.service import Service
from mailer.editor import accounts
from tests.mailer.web.test_editor_auth import sign_in
from tests.support import factories

ARABIC = re.compile(r"[\u0600-\u06ff]{3,}")


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Argon2 verification the server makes (a spy on the real hasher, which still runs)."""
    made: list[str] = []
    real = accounts._verify

    def counted(stored: str, password: str) -> bool:
        made.append(password)
        return real(stored, password)

    monkeypatch.setattr(accounts, "_verify", counted)
    return made


async def test_an_account_is_throttled_and_a_throttled_try_costs_no_hash(
    service: Service, live_app: str, hashes: list[str]
) -> None:
    await factories.editor(service)
    limit = 5  # the default MAILER_LOGIN_ACCOUNT_LIMITS allows five failures a quarter of an hour
    async with httpx.AsyncClient(base_url=live_app) as client:
        wrong = [await sign_in(client, password=f"wrong password {n}") for n in range(limit)]
        assert [r.status_code for r in wrong] == [401] * limit
        assert len(hashes) == limit
        throttled = await sign_in(client)  # even the right password waits now
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
        assert ARABIC.search(throttled.text) and "mailer_editor=" not in throttled.headers.get("set-cookie", "")
        assert len(hashes) == limit  # no hash for a throttled try


async def test_a_client_is_throttled_across_accounts(service: Service, live_app: str, hashes: list[str]) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        codes = [(await sign_in(client, name=f"guess{n}", password="wrong password")).status_code for n in range(25)]
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    assert len(hashes) == 20
