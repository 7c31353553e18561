"""Settings an operator can get wrong, and secrets that must not be printed (issue 13, points 8,
11, 15 and 17)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailer.cli.main import app
from mailer.core import keyfile
from mailer.core.errors import SettingsError
from mailer.core.settings import Settings, load_settings

SECRET_URLS = {
    "MAILER_DATABASE_URL": "postgresql+asyncpg://mailer:db-pass-1@127.0.0.1:1/mailer",
    "MAILER_SMTP_URL": "smtp+starttls://relay:smtp-pass-2@relay.example.com:587",
    "MAILER_BOUNCE_MAILBOX": "imaps://bounce:mbox-pass-3@imap.example.com/INBOX",
    "MAILER_SHARE_RATE_STORAGE": "redis://:redis-pass-4@127.0.0.1:6379",
}
PASSWORDS = ("db-pass-1", "smtp-pass-2", "mbox-pass-3", "redis-pass-4")


@pytest.mark.parametrize("variable", ["MAILER_SHARE_MIN_FILL_SECONDS", "MAILER_SMTP_TIMEOUT",
                                      "MAILER_SEND_RATE", "MAILER_EDITOR_SESSION_HOURS"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_floats_must_be_finite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(None, data_dir=tmp_path, secret_key="k" * 40)
    assert caught.value.key == variable and "finite" in str(caught.value)


def test_an_unknown_mailer_variable_is_named_in_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MAILER_SHARE_MIN_FIL_SECONDS", "10")  # a typo: the setting stays at its default
    monkeypatch.setenv("MAILER_SITE_NAME", "موقعي")
    with caplog.at_level(logging.WARNING):
        settings = load_settings(None, data_dir=tmp_path, secret_key="k" * 40)
    assert settings.share_min_fill_seconds == 3.0
    assert "MAILER_SHARE_MIN_FIL_SECONDS" in caplog.text and "MAILER_SITE_NAME" not in caplog.text


def test_passwords_are_never_printed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in SECRET_URLS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MAILER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAILER_SECRET_KEY", "k" * 40)
    shown = CliRunner().invoke(app, ["settings"], env={"COLUMNS": "400"})  # no wrapped value
    assert shown.exit_code == 0, shown.output
    settings = load_settings(None)
    upgrade = CliRunner().invoke(app, ["db", "upgrade"])  # fails to connect: the URL is in the error
    for text in (shown.output, repr(settings), str(settings), upgrade.output, str(upgrade.exception or "")):
        for password in PASSWORDS:
            assert password not in text
    assert "relay.example.com" in shown.output and "***" in shown.output


def test_a_data_directory_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(SettingsError) as caught:
        load_settings(None, data_dir=tmp_path / "data", secret_key="k" * 40)
    assert caught.value.key == "MAILER_DATA_DIR" and "not a directory" in str(caught.value)


def test_the_key_file_is_validated_and_kept_private(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    data = tmp_path / "kf"
    settings = load_settings(None, data_dir=data)
    path = data / keyfile.NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.secret_key is not None and len(settings.secret_key.get_secret_value()) >= 32
    for bad in ("", "\n\n", "short\n"):
        path.write_text(bad)
        with pytest.raises(SettingsError) as caught:
            load_settings(None, data_dir=data)
        assert caught.value.key == "MAILER_SECRET_KEY"
    path.write_text("k" * 40 + "\n")
    os.chmod(path, 0o644)  # written by an older version, or by hand: readable by everyone
    load_settings(None, data_dir=data)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
