"""A real browser for the editor pages: Debian's chromium driven by Playwright (async API, so the
app under test keeps being served by the same event loop while the browser waits on it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MAILER_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("MAILER_TEST_REQUIRE_BROWSER") == "1"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
TESTS = Path(__file__).resolve().parents[1]
ARTIFACTS = TESTS / "artifacts"  # gitignored: every screenshot of every run
SCREENSHOTS = TESTS / "screenshots"  # committed: the ones the README shows


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """Browser tests exercise the pages, not the database: SQLite only (the domain tests under
    tests/mailer run on both SQLite and PostgreSQL)."""
    yield f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"no chromium at {CHROMIUM} (Debian package 'chromium')"
        if REQUIRE_BROWSER:
            pytest.fail(f"a browser is required (MAILER_TEST_REQUIRE_BROWSER=1) but there is {message}")
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
