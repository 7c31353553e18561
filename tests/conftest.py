"""Fixtures: real SQLite files (and PostgreSQL where available), a real SMTP peer, a live app."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailer.core.db import Database
from mailer.core.settings import Settings, load_settings
from mailer.delivery.devmailbox import free_port
from mailer.delivery.service import Service
from tests.support.smtpd import SMTPServer

PG_URL = os.environ.get("MAILER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("MAILER_TEST_REQUIRE_PG") == "1"
CHROMIUM = os.environ.get("MAILER_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("MAILER_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [  # as root, headless, and never reaching for Google's services
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SECRET = "test-secret-" + "x" * 40
API_TOKEN = "test-api-token"

# httpx gives up after 5 s by default: on a 2-core machine running the suite beside Chromium and
# real worker processes a request that renders mail can take longer. Tests of timeouts pass their
# own; every other client waits up to 60 s.
_client_init = httpx.AsyncClient.__init__


def _patient_client_init(self: httpx.AsyncClient, *args: Any, timeout: Any = 60.0, **kwargs: Any) -> None:
    _client_init(self, *args, timeout=timeout, **kwargs)


httpx.AsyncClient.__init__ = _patient_client_init  # type: ignore[method-assign]


def _pg_reachable() -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in the developer's shell must not leak into tests."""
    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 25, 4, 0, tzinfo=UTC))  # 07:00 in Baghdad


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


async def _create_pg_database() -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    name = f"mailer_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return str(url.set(database=name).render_as_string(hide_password=False))


async def _drop_pg_database(db_url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    name = make_url(db_url).database
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database: a SQLite file always, a PostgreSQL database where one runs."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}"
        return
    if not _pg_reachable():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (MAILER_TEST_REQUIRE_PG=1) but {PG_URL} does not answer")
        pytest.skip(f"no PostgreSQL at {PG_URL}")
    url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(url)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """That database, migrated, for tests of the data layer alone (no service, no mail)."""
    db = Database(database_url)
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}",
            "secret_key": SECRET,
            "api_token": API_TOKEN,
            "site_name": "أخبار الموقع",
            "base_url": "https://news.example.com",
            "sender_address": "newsletter@news.example.com",
            "devmailbox_port": 0,
            "subscribe_ip_limits": "1000/minute",  # tests post many times from one client
        }
        values.update(overrides)
        return load_settings(None, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer) -> Settings:
    return make_settings(database_url=database_url, smtp_url=smtp_server.url)


@pytest.fixture
async def service(settings: Settings, clock: Clock) -> AsyncIterator[Service]:
    svc = await Service(settings, clock=clock).start()
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def live_app(service: Service) -> AsyncIterator[str]:
    """The real ASGI app served by uvicorn on a loopback port; yields its base URL."""
    async with serve(service) as url:
        yield url


@asynccontextmanager
async def serve(service: Service) -> AsyncIterator[str]:
    """``service``'s app served by uvicorn on a loopback port, for as long as the block runs."""
    import uvicorn

    from mailer.web.app import create_app, server_config

    port = free_port()
    server = uvicorn.Server(server_config(create_app(service), host="127.0.0.1", port=port))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium driven by Playwright's async API, so the app under test keeps being
    served by the same event loop while the browser waits on it."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):  # noqa: ASYNC240  (once, at set-up)
        message = f"no chromium at {CHROMIUM} (Debian package 'chromium')"
        if REQUIRE_BROWSER:
            pytest.fail(f"a browser is required (MAILER_TEST_REQUIRE_BROWSER=1) but there is {message}")
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
