"""Editor-page browser tests: SQLite only, and where their screenshots go (the ``browser``
fixture itself is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
ARTIFACTS = TESTS / "artifacts"  # gitignored: every screenshot of every run
SCREENSHOTS = TESTS / "screenshots"  # committed: the ones the README shows


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """Browser tests exercise the pages, not the database: SQLite only (the domain tests under
    tests/mailer run on both SQLite and PostgreSQL)."""
    yield f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}"


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
