"""The production settings refuse what cannot work, naming the variable."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailer.core.errors import SettingsError
from mailer.core.settings import Settings


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        ({"rate_storage": "database"}, "MAILER_RATE_STORAGE", "needs PostgreSQL"),
        ({"rate_storage": "memcached://x"}, "MAILER_RATE_STORAGE", "redis://"),
        ({"metrics_address": "9100"}, "MAILER_METRICS_ADDRESS", "HOST:PORT"),
        ({"metrics_address": "127.0.0.1:99999"}, "MAILER_METRICS_ADDRESS", "HOST:PORT"),
        ({"metrics_address": "127.0.0.1:²"}, "MAILER_METRICS_ADDRESS", "HOST:PORT"),  # isdigit, not int
        ({"metrics_address": "127.0.0.1:٩١٠٨"}, "MAILER_METRICS_ADDRESS", "HOST:PORT"),
        ({"log_format": "xml"}, "MAILER_LOG_FORMAT", "json"),
        ({"retain_bounce_days": 3}, "MAILER_RETAIN_BOUNCE_DAYS", "soft bounces"),
        ({"retain_share_days": 1}, "MAILER_RETAIN_SHARE_DAYS", "24 hours"),
        ({"retain_outbox_days": 0}, "MAILER_RETAIN_OUTBOX_DAYS", "greater than zero"),
        ({"prune_cron": "every night"}, "MAILER_PRUNE_CRON", "5 fields"),
    ],
)
def test_bad_production_settings_name_the_variable(
    make_settings: Callable[..., Settings], overrides: dict[str, object], key: str, words: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        make_settings(**overrides)
    assert caught.value.key == key and words in str(caught.value)


def test_where_the_limits_are_counted_by_default(make_settings: Callable[..., Settings]) -> None:
    assert make_settings().shared_limits == "process"  # SQLite: one sending process
    assert make_settings(database_url="postgresql+asyncpg://u@h/db").shared_limits == "database"
    assert make_settings(rate_storage="redis://127.0.0.1:6379/0").shared_limits == "redis://127.0.0.1:6379/0"
