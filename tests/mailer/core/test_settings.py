"""Settings: every bad value stops start-up with a message naming its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.core.errors import SettingsError
from mailer.core.settings import load_settings
from mailer.core.signing import Keyring
from mailer.core.urls import parse_smtp_url


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MAILER_SMTP_URL", "smtp://relay.example.com:abc", "MAILER_SMTP_URL: port 'abc' is not an integer"),
        ("MAILER_SMTP_URL", "http://relay.example.com", "MAILER_SMTP_URL: scheme 'http'"),
        ("MAILER_TIMEZONE", "Mars/Olympus", "MAILER_TIMEZONE: 'Mars/Olympus' is not a known time zone"),
        ("MAILER_DAILY_CRON", "7 * *", "MAILER_DAILY_CRON: '7 * *' must have 5 fields"),
        ("MAILER_WEEKLY_CRON", "0 25 * * *", "MAILER_WEEKLY_CRON: '0 25 * * *' is not a valid cron"),
        ("MAILER_SECRET_KEY", "short", "MAILER_SECRET_KEY: must be at least 32 characters"),
        ("MAILER_SECRET_KEY_PREVIOUS", "p" * 40 + ",short", "MAILER_SECRET_KEY_PREVIOUS: key 2: must be at least 32"),
        ("MAILER_SECRET_KEY_PREVIOUS", "p" * 40 + ",", "MAILER_SECRET_KEY_PREVIOUS: key 2 is empty"),
        ("MAILER_SECRET_KEY_PREVIOUS", " ", "MAILER_SECRET_KEY_PREVIOUS: is empty"),
        ("MAILER_BASE_URL", "news.example.com", "MAILER_BASE_URL: 'news.example.com' is not an http(s) URL"),
        ("MAILER_SENDER_ADDRESS", "not-an-address", "MAILER_SENDER_ADDRESS: 'not-an-address' is not a valid address"),
        ("MAILER_DATABASE_URL", "mysql://x/y", "MAILER_DATABASE_URL: use sqlite"),
        ("MAILER_WEB_PORT", "70000", "MAILER_WEB_PORT: 70000 is not a TCP port"),
        ("MAILER_SEND_BATCH_SIZE", "0", "MAILER_SEND_BATCH_SIZE: 0 must be greater than zero"),
        ("MAILER_DIGITS", "roman", "MAILER_DIGITS: "),
        ("MAILER_STALE_AFTER_MINUTES", "soon", "MAILER_STALE_AFTER_MINUTES: "),
        ("MAILER_SITE_URL", "news.example.com", "MAILER_SITE_URL: 'news.example.com' is not an http(s) URL"),
        ("MAILER_SITE_URL", 'https://news.example.com/"x', "MAILER_SITE_URL: must be ASCII without spaces or quotes"),
        ("MAILER_LOGO_URL", "javascript:alert(1)", "MAILER_LOGO_URL: 'javascript:alert(1)' is not an http(s) URL"),
        ("MAILER_LOGO_WIDTH", "0", "MAILER_LOGO_WIDTH: 0 must be greater than zero"),
        ("MAILER_DIGEST_SUBJECT", "date", "MAILER_DIGEST_SUBJECT: "),
    ],
)
def test_bad_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv("MAILER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(expected)
    assert caught.value.key == variable


def test_toml_then_environment_then_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "mailer.toml"
    config.write_text(
        f'site_name = "جريدة الملف"\ntimezone = "Asia/Riyadh"\ndata_dir = "{tmp_path}"\nweb_port = 9000\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("MAILER_TIMEZONE", "Africa/Cairo")
    settings = load_settings(config, web_port=9100)
    assert settings.site_name == "جريدة الملف"  # from the file
    assert settings.timezone == "Africa/Cairo"  # the environment beats the file
    assert settings.web_port == 9100  # a flag beats both


def test_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "mailer.toml"
    config.write_text('smtp_uri = "smtp://x"\n')
    with pytest.raises(SettingsError, match="MAILER_SMTP_URI: is not a known setting"):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"MAILER_CONFIG: file .* does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path)
    second = load_settings(data_dir=tmp_path)
    assert first.secret_key == second.secret_key and first.keyring.key_ids == second.keyring.key_ids
    assert first.secret_key is not None and len(first.secret_key.get_secret_value()) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
    assert list(tmp_path.iterdir()) == [tmp_path / "secret.key"]  # no draft left behind


def test_previous_keys_from_the_environment_and_from_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    current, old, older = "c" * 40, "o" * 40, "p" * 40
    monkeypatch.setenv("MAILER_SECRET_KEY", current)
    monkeypatch.setenv("MAILER_SECRET_KEY_PREVIOUS", f"{old}, {older}")
    from_env = load_settings(data_dir=tmp_path)
    assert from_env.keyring == Keyring.of(current, [old, older])
    assert from_env.keyring.key_ids[0] == Keyring.of(current).key_ids[0]  # tokens are made with it
    assert not (tmp_path / "secret.key").exists()  # a key in the settings: no key file

    monkeypatch.delenv("MAILER_SECRET_KEY_PREVIOUS")
    config = tmp_path / "mailer.toml"
    config.write_text(f'secret_key_previous = ["{older}", "{old}"]\n')
    assert load_settings(config, data_dir=tmp_path).keyring == Keyring.of(current, [older, old])
    config.write_text('secret_key_previous = ["short"]\n')
    with pytest.raises(SettingsError, match="MAILER_SECRET_KEY_PREVIOUS: key 1: must be at least") as caught:
        load_settings(config, data_dir=tmp_path)
    assert "short" not in str(caught.value)  # a key, even a bad one, is never printed


def test_the_key_file_holds_the_current_key_then_previous_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    new, old, extra = "n" * 40, "o" * 40, "e" * 40
    (tmp_path / "secret.key").write_text(f"{new}\n\n{old}\n")
    monkeypatch.setenv("MAILER_SECRET_KEY_PREVIOUS", extra)
    assert load_settings(data_dir=tmp_path).keyring == Keyring.of(new, [old, extra])
    (tmp_path / "secret.key").write_text(f"{new}\nshort\n")
    with pytest.raises(SettingsError, match=r"MAILER_SECRET_KEY: is not set, and line 2 of .* must be at least 32"):
        load_settings(data_dir=tmp_path)
    (tmp_path / "secret.key").write_text("\n")
    with pytest.raises(SettingsError, match=r"MAILER_SECRET_KEY: is not set, and .* holds no key"):
        load_settings(data_dir=tmp_path)


def test_defaults_need_nothing(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.database_url == "sqlite+aiosqlite:///mailer.db"
    assert settings.smtp is None  # the development mailbox
    assert settings.timezone == "Asia/Baghdad"


def test_smtp_url_forms() -> None:
    assert parse_smtp_url("smtps://u%40x:p%3Aw@relay:2465").__dict__ == {
        "host": "relay", "port": 2465, "tls": "implicit", "username": "u@x", "password": "p:w"}
    assert parse_smtp_url("smtp+starttls://relay").port == 587
    assert parse_smtp_url("smtp://relay?tls=starttls").tls == "starttls"
    assert "secret" not in repr(parse_smtp_url("smtp://u:secret@relay"))
