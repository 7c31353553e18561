"""The newsroom settings: lists as [lists.KEY] tables in the TOML file (errors name the table and
key), the two lists of old as the default, MAILER_DAILY_CRON and MAILER_WEEKLY_CRON still
working for them; feeds, breaking categories and the site's origins."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.core.errors import SettingsError
from mailer.core.settings import Settings, load_settings

LISTS = """
[lists.morning]
name = "نشرة الصباح"
schedule = "0 6 * * *"

[lists.sport]
name = "النشرة الرياضية"
schedule = "30 8 * * 1-5"
sections = ["رياضة", "كرة القدم"]
template = "sport"
sender_name = "رياضة الموقع"
subject_style = "headline"

[lists.breaking]
name = "عاجل"
schedule = "immediate"
daily_cap = 5
"""


def load(tmp_path: Path, toml: str | None = None, **overrides: object) -> Settings:
    config = None
    if toml is not None:
        config = tmp_path / "mailer.toml"
        config.write_text(toml, encoding="utf-8")
    return load_settings(config, data_dir=tmp_path, **overrides)


def test_lists_come_from_the_settings_file_in_its_order(tmp_path: Path) -> None:
    s = load(tmp_path, LISTS)
    assert list(s.lists) == ["morning", "sport", "breaking"]
    assert s.scheduled_lists == ("morning", "sport") and s.immediate_lists == ("breaking",)
    sport = s.news_list("sport")
    assert sport.sections == ("رياضة", "كرة القدم") and sport.template == "sport"
    assert sport.sender_name == "رياضة الموقع" and sport.subject_style == "headline"
    assert s.cron_for("sport") == "30 8 * * 1-5" and s.news_list("breaking").cap == 5


def test_without_lists_the_two_of_old_are_the_default_and_keep_their_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = load(tmp_path)
    assert {k: (v.name, v.schedule) for k, v in s.lists.items()} == {
        "daily": ("النشرة اليومية", "0 7 * * *"), "weekly": ("النشرة الأسبوعية", "0 7 * * 5")}
    monkeypatch.setenv("MAILER_DAILY_CRON", "30 5 * * *")
    assert load(tmp_path).cron_for("daily") == "30 5 * * *"
    with pytest.raises(SettingsError) as both:
        load(tmp_path, LISTS)
    assert str(both.value) == ("MAILER_DAILY_CRON: applies to the default lists only, and the settings file "
                               "defines its own lists: set lists.daily.schedule there instead")


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('[lists.morning]\nname = "x"\nschedule = "0 25 * * *"\n',
         "MAILER_CONFIG: lists.morning.schedule: '0 25 * * *' is not a valid cron expression"),
        ('[lists.morning]\nname = "x"\n', "MAILER_CONFIG: lists.morning.schedule: Field required"),
        ('[lists.morning]\nname = ""\nschedule = "immediate"\n', "MAILER_CONFIG: lists.morning.name: "),
        ('[lists.morning]\nname = "x"\nschedule = "0 6 * * *"\ndaily_cap = 3\n',
         "MAILER_CONFIG: lists.morning: daily_cap is for immediate lists only"),
        ('[lists.breaking]\nname = "x"\nschedule = "immediate"\ndaily_cap = 0\n',
         "MAILER_CONFIG: lists.breaking: daily_cap 0 must be 1 or more"),
        ('[lists.morning]\nname = "x"\nschedule = "immediate"\ncolour = "red"\n',
         "MAILER_CONFIG: lists.morning.colour: is not a known setting"),
        ('[lists.morning]\nname = "x"\nschedule = "immediate"\ntemplate = "../../etc"\n',
         "MAILER_CONFIG: lists.morning.template: '../../etc' is not a template directory name"),
        ('[lists.Morning2]\nname = "x"\nschedule = "immediate"\n',
         "MAILER_CONFIG: lists: list key 'Morning2' must be 1 to 16 lower-case Latin letters"),
        ('[lists.share]\nname = "x"\nschedule = "immediate"\n', "MAILER_CONFIG: lists: list key 'share' is reserved"),
        ('[lists.morning]\nname = "سطر\\nثانٍ"\nschedule = "immediate"\n',
         "MAILER_CONFIG: lists.morning.name: must not contain line breaks"),
    ],
)
def test_a_bad_list_names_its_table_and_key(tmp_path: Path, table: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, table)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert caught.value.key == "MAILER_CONFIG"


def test_an_unknown_list_is_not_found_in_arabic(tmp_path: Path) -> None:
    s = load(tmp_path, LISTS)
    with pytest.raises(LookupError) as unknown:
        s.news_list("daily")
    assert "morning, sport, breaking" in str(unknown.value)
    with pytest.raises(LookupError) as immediate:
        s.cron_for("breaking")
    assert "للأخبار العاجلة" in getattr(immediate.value, "public_message", "")


def test_feeds_categories_and_origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_FEEDS", "https://news.example.com/rss, https://news.example.com/sport.rss")
    monkeypatch.setenv("MAILER_BREAKING_CATEGORIES", "عاجل, Breaking")
    monkeypatch.setenv("MAILER_SITE_ORIGINS", "https://WWW.news.example.com:443/, http://127.0.0.1:8080")
    s = load(tmp_path)
    assert s.feeds == ("https://news.example.com/rss", "https://news.example.com/sport.rss")
    assert s.breaking_categories == ("عاجل", "breaking")
    assert s.site_origins == ("https://www.news.example.com", "http://127.0.0.1:8080")
    for name in ("MAILER_FEEDS", "MAILER_SITE_ORIGINS"):
        monkeypatch.delenv(name)
    toml = load(tmp_path, 'site_origins = ["https://news.example.com"]\nfeeds = ["https://news.example.com/rss"]\n')
    assert toml.site_origins == ("https://news.example.com",) and toml.feeds == ("https://news.example.com/rss",)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MAILER_SITE_ORIGINS", "*", "MAILER_SITE_ORIGINS: '*': list each origin; '*' is never allowed"),
        ("MAILER_SITE_ORIGINS", "https://news.example.com/page", "MAILER_SITE_ORIGINS: 'https://news.example.com/page' is not an origin"),
        ("MAILER_SITE_ORIGINS", "news.example.com", "MAILER_SITE_ORIGINS: 'news.example.com' is not an origin"),
        ("MAILER_FEEDS", "ftp://news.example.com/rss", "MAILER_FEEDS: 'ftp://news.example.com/rss' is not an http(s) URL"),
        ("MAILER_FEED_POLL_MINUTES", "0", "MAILER_FEED_POLL_MINUTES: 0.0 must be greater than zero"),
        ("MAILER_FEED_DEADLINE_SECONDS", "-1", "MAILER_FEED_DEADLINE_SECONDS: -1.0 must be greater than zero"),
        ("MAILER_FEED_MAX_BYTES", "0", "MAILER_FEED_MAX_BYTES: 0 must be greater than zero"),
    ],
)
def test_bad_newsroom_values_name_their_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load(tmp_path)
    assert str(caught.value).startswith(expected), str(caught.value)
