"""Running the real `mailer` command in tests: a fixture that points it at the test's settings,
and a helper that runs it in a thread (it starts its own event loop)."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from mailer.cli.main import app
from mailer.core.settings import Settings
from tests.conftest import SECRET


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> CliRunner:
    """A runner whose `mailer` sees the same database, data directory and identity as ``settings``."""
    for key, value in {
        "MAILER_DATABASE_URL": settings.database_url, "MAILER_SECRET_KEY": SECRET,
        "MAILER_DATA_DIR": str(settings.data_dir), "MAILER_SMTP_URL": settings.smtp_url or "",
        "MAILER_BASE_URL": settings.base_url, "MAILER_SENDER_ADDRESS": settings.sender_address,
        "MAILER_SMTPUTF8": "true", "MAILER_LOG_LEVEL": "WARNING", "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(key, value)
    return CliRunner()


async def mailer(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    """Exit code, standard output and standard error of ``mailer ARGS``."""
    result = await asyncio.to_thread(runner.invoke, app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr
