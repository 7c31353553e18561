"""The one settings object: defaults < TOML file < ``MAILER_*`` environment < command-line flags.

Longer than most modules because it is the one place every setting and its check live; the
newsletters' own model is in ``mailer.core.lists``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mailer.core import keyfile
from mailer.core.errors import NotFound, SettingsError
from mailer.core.lists import NewsList, check_keys, default_lists
from mailer.core.signing import MIN_KEY_CHARS, Keyring
from mailer.core.urls import SmtpConfig, parse_mailbox_url, parse_smtp_url, redact_url

ENV_PREFIX = "MAILER_"
_TOML_PATH: ContextVar[Path | None] = ContextVar("_TOML_PATH", default=None)

class Settings(BaseSettings):
    """Every setting of the service. Frozen: build a new one rather than change it."""

    model_config = SettingsConfigDict(  # allow_inf_nan: "nan" would switch a limit off
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False
    )

    # storage
    database_url: str = "sqlite+aiosqlite:///mailer.db"
    data_dir: Path = Path("mailer-data")

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{str(value)!r} is not a directory (it is a file)")
        return value

    # delivery
    smtp_url: str | None = None
    smtp_timeout: float = 60.0
    smtp_data_timeout: float = 600.0
    send_batch_size: int = 500
    lease_seconds: int = 300

    # delivery engine: pool, retries, rate limits, DKIM, VERP and bounces
    smtp_pool_size: int = 8
    retry_lifetime_hours: float = 72.0
    send_rate: float = 0.0  # messages per second for all workers together (rate_storage); 0: no limit
    domain_concurrency: int = 10
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_key_file: Path | None = None
    dkim_ed25519_selector: str | None = None  # a second signature beside RSA's (RFC 8463), never instead
    dkim_ed25519_key_file: Path | None = None
    dkim_processes: int | None = None  # None: by the cores and sending processes (dkim.signing_processes)
    # sending processes of one `mailer serve`, `worker` or `digest send` (mailer/delivery/group.py)
    sender_processes: int = 1
    bounce_address: str | None = None
    bounce_mailbox: str | None = None
    bounce_threshold: int = 6
    # the delivery journal (mailer/delivery/journal.py): fsync at most this often; 0: every line
    journal_fsync_seconds: float = 1.0

    @field_validator("send_rate", "dkim_processes", "journal_fsync_seconds")
    @classmethod
    def _delivery_not_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError(f"{value!r} must be zero or more")
        return value

    @field_validator("dkim_selector", "dkim_domain", "dkim_ed25519_selector")
    @classmethod
    def _dkim_label(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value):
            raise ValueError(f"{value!r} is not a DNS name (letters, digits, '-' and '.')")
        return value or None

    @field_validator("dkim_key_file")
    @classmethod
    def _dkim_key(cls, value: Path | None, info: Any) -> Path | None:
        if (value is None) != (info.data.get("dkim_selector") is None):  # selector is validated first
            raise ValueError("DKIM needs both MAILER_DKIM_SELECTOR and MAILER_DKIM_KEY_FILE, or neither")
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a file (make one with `mailer dkim keygen`)")
        return value

    @field_validator("dkim_ed25519_key_file")
    @classmethod
    def _dkim_ed25519_key(cls, value: Path | None, info: Any) -> Path | None:
        if (value is None) != (info.data.get("dkim_ed25519_selector") is None):
            raise ValueError("Ed25519 DKIM needs both MAILER_DKIM_ED25519_SELECTOR and MAILER_DKIM_ED25519_KEY_FILE")
        if value is not None and info.data.get("dkim_key_file") is None:
            raise ValueError("an Ed25519 signature is added beside the RSA one, never instead: "
                             "set MAILER_DKIM_SELECTOR and MAILER_DKIM_KEY_FILE too (many receivers verify only RSA)")
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a file (make one with `mailer dkim keygen --algorithm ed25519`)")
        return value

    @field_validator("bounce_address")
    @classmethod
    def _bounce_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "+" in value.split("@", 1)[0]:
            raise ValueError(f"{value!r} must not contain '+': VERP adds '+token' to it")
        try:
            return validate_email(value, check_deliverability=False, allow_smtputf8=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not a valid ASCII address: {exc}") from None

    @field_validator("bounce_mailbox")
    @classmethod
    def _bounce_mailbox(cls, value: str | None) -> str | None:
        if value:
            parse_mailbox_url(value)
        return value or None

    @property
    def dkim_signing_domain(self) -> str:
        return self.dkim_domain or self.mail_domain

    @property
    def return_path(self) -> str:
        return self.bounce_address or f"bounces@{self.mail_domain}"

    # identity
    site_name: str = "أخبار الموقع"
    base_url: str = "http://127.0.0.1:8000"
    site_url: str | None = None  # the news site's home page; unset: the feed's channel link
    logo_url: str | None = None  # a hosted image shown in the masthead, the site name as its alt
    logo_width: int = 180  # its width in pixels (Outlook draws images at their width attribute)
    sender_address: str = "newsletter@example.com"
    sender_name: str | None = None
    unsubscribe_address: str | None = None

    # digests
    timezone: str = "Asia/Baghdad"
    daily_cron: str = "0 7 * * *"
    weekly_cron: str = "0 7 * * 5"
    # the newsletters, [lists.KEY] tables in the TOML file; none: daily and weekly (mailer/core/lists.py)
    lists: dict[str, NewsList] = {}
    stale_after_minutes: int = 120
    max_articles: int = 20
    digest_subject: Literal["title", "headline"] = "title"  # per list: digest_subject_for()
    digits: Literal["latin", "arabic"] = "latin"
    date_locale: str = "ar"
    hijri: bool = False
    hijri_offset_days: int = 0
    templates_dir: Path | None = None

    # security: the signing keys (mailer/core/signing.py), newest first
    secret_key: SecretStr | None = None
    # older keys, still accepted: comma-separated in the environment, a list in TOML
    secret_key_previous: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    api_token: SecretStr | None = None
    api_docs: bool = False  # /api/docs and /api/openapi.json, for signed-in editors only
    # proxies whose X-Forwarded-For is believed (addresses or networks); none by default
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()

    # subscribers
    confirm_expiry_hours: int = 48
    confirm_interval_hours: int = 24
    smtputf8: bool | None = None
    subscribe_ip_limits: str = "5/minute;30/day"  # subscribe requests per client
    subscribe_global_per_hour: int = 500  # confirmation mails from everyone, across workers

    # editors
    editor_session_hours: float = 12.0
    login_account_limits: str = "5/15minutes;20/day"  # failed sign-ins per editor name
    login_ip_limits: str = "20/15minutes;100/day"  # failed sign-ins per client, any name
    spamassassin_command: str = "spamassassin"
    spam_check_timeout: float = 20.0

    # the site: its feeds, polled by `mailer serve`, and the origins whose pages embed our forms
    feeds: Annotated[tuple[str, ...], NoDecode] = ()
    feed_poll_minutes: float = 10.0
    feed_deadline_seconds: float = 30.0  # a whole fetch, redirects and body included
    feed_max_bytes: int = 10 * 1024 * 1024
    breaking_categories: Annotated[tuple[str, ...], NoDecode] = ()
    site_origins: Annotated[tuple[str, ...], NoDecode] = ()

    # processes
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    devmailbox_host: str = "127.0.0.1"
    devmailbox_port: int = 8025
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # production (README "Production"): shared limits, metrics, logs, retention
    rate_storage: str | None = None  # None: "database" on PostgreSQL, "process" on SQLite
    metrics_token: SecretStr | None = None
    metrics_address: str | None = None
    log_format: Literal["text", "json"] = "text"
    retain_payload_days: float = 7.0
    retain_outbox_days: float = 90.0
    retain_bounce_days: float = 180.0
    retain_share_days: float = 90.0
    prune_cron: str = "30 3 * * *"

    @field_validator("rate_storage")
    @classmethod
    def _rate_storage(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value == "database" and str(info.data.get("database_url", "")).startswith("sqlite"):
            raise ValueError("'database' needs PostgreSQL: on SQLite one sending process is the rule ('process')")
        if value is None or value in ("database", "process"):
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"{value!r} is not 'database', 'process' or a redis://HOST:PORT/DB URL")
        return value

    @field_validator("metrics_address")
    @classmethod
    def _metrics_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) <= 65535:
            raise ValueError(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:9108")
        return value

    @field_validator("retain_bounce_days")
    @classmethod
    def _retain_bounces(cls, value: float) -> float:
        if value < 8:
            raise ValueError(f"{value!r} must be at least 8 days: soft bounces score for 7")
        return value

    @field_validator("retain_share_days")
    @classmethod
    def _retain_shares(cls, value: float) -> float:
        if value < 2:
            raise ValueError(f"{value!r} must be at least 2 days: the share limits count the last 24 hours")
        return value

    @property
    def shared_limits(self) -> str:
        """Where the send rate and per-domain concurrency are counted: ``database``, ``process``
        or a Redis URL. SQLite is for one sending process, so its default is ``process``."""
        if self.rate_storage is not None:
            return self.rate_storage
        return "process" if self.is_sqlite else "database"

    # shares: "send this article to a friend" (mailer/shares.py)
    share_ip_limits: str = "5/minute;30/day"
    share_sender_limits: str = "10/hour;30/day"
    share_rate_storage: str = "memory://"
    share_recipient_article_per_day: int = 1
    share_recipient_per_day: int = 3
    share_global_per_hour: int = 300
    share_min_fill_seconds: float = 3.0
    share_form_max_age_minutes: int = 720
    share_name_max_length: int = 40
    share_note_enabled: bool = False
    share_note_max_length: int = 140
    share_captcha: Literal["none", "hcaptcha", "turnstile", "recaptcha"] = "none"
    share_captcha_site_key: str | None = None
    share_captcha_secret: SecretStr | None = None
    share_captcha_verify_url: str | None = None

    # analytics (mailer/compose/tracking.py): links in digests and alerts go through /r/...;
    # "aggregate" keeps counts per edition and article only, "per_reader" also who clicked
    tracking: Literal["off", "aggregate", "per_reader"] = "aggregate"
    track_opens: bool = False  # a 1x1 image (/o/...) in digests and alerts; off: no pixel at all

    @field_validator("share_ip_limits", "share_sender_limits", "subscribe_ip_limits", "login_account_limits",
                     "login_ip_limits")
    @classmethod
    def _share_limits(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit such as '5/minute;30/day'") from None
        return value

    @field_validator("share_rate_storage")
    @classmethod
    def _share_storage(cls, value: str) -> str:
        from limits.storage import SCHEMES  # type: ignore[attr-defined]

        scheme = value.split("://", 1)[0]
        if "://" not in value or f"async+{scheme}" not in SCHEMES:
            raise ValueError(f"{value!r} is not a storage of the limits library (memory://, redis://HOST)")
        return value

    @field_validator("share_min_fill_seconds")
    @classmethod
    def _share_fill(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"{value!r} must not be negative")
        return value

    @field_validator("share_captcha_secret")
    @classmethod
    def _share_captcha_keys(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        provider = info.data.get("share_captcha", "none")
        if provider != "none" and not (value and info.data.get("share_captcha_site_key")):
            raise ValueError(
                f"MAILER_SHARE_CAPTCHA is {provider!r}: set this and MAILER_SHARE_CAPTCHA_SITE_KEY too"
            )
        return value

    @field_validator("share_captcha_verify_url")
    @classmethod
    def _share_captcha_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = _TOML_PATH.get()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value:
            parse_smtp_url(value)
        return value or None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            value = "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+")):
            raise ValueError("use sqlite+aiosqlite:///FILE or postgresql+asyncpg://HOST/DB")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or a fragment")
        if not value.isascii():
            raise ValueError("must be ASCII: write an internationalised host in its xn-- form")
        return value.rstrip("/")

    @field_validator("site_url", "logo_url")
    @classmethod
    def _site_urls(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host")
        if not value.isascii() or any(ch in value for ch in " \"'<>"):
            raise ValueError("must be ASCII without spaces or quotes: write an internationalised host in its xn-- form")
        return value

    @field_validator("sender_address", "unsubscribe_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not a valid address: {exc}") from None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone (e.g. Asia/Baghdad)") from None
        return value

    @field_validator("daily_cron", "weekly_cron", "prune_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from mailer.editions.schedule import parse_cron  # the one module that imports APScheduler

        parse_cron(value, "UTC")
        return value

    @field_validator("lists")
    @classmethod
    def _lists(cls, value: dict[str, NewsList], info: ValidationInfo) -> dict[str, NewsList]:
        if not value:
            return default_lists(info.data.get("daily_cron", "0 7 * * *"), info.data.get("weekly_cron", "0 7 * * 5"))
        check_keys(value)
        return value

    @model_validator(mode="after")
    def _old_crons(self) -> Settings:
        if "lists" in self.model_fields_set:
            for name in ("daily_cron", "weekly_cron"):
                if name in self.model_fields_set:
                    key = name.split("_", 1)[0]
                    raise ValueError(
                        f"{env_name(name)} applies to the default lists only, and the settings file "
                        f"defines its own lists: set lists.{key}.schedule there instead"
                    )
        return self

    @field_validator("feeds", "site_origins", "breaking_categories", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return tuple(dict.fromkeys(value))

    @field_validator("site_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        origins = []
        for origin in value:
            parts = urlsplit(origin)
            if "*" in origin:
                raise ValueError(f"{origin!r}: list each origin; '*' is never allowed")
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") \
                    or parts.query or parts.fragment or parts.username or not origin.isascii():
                raise ValueError(
                    f"{origin!r} is not an origin such as https://www.example.com (scheme, host and "
                    "port only, an internationalised host in its xn-- form)"
                )
            try:
                port = parts.port
            except ValueError:
                raise ValueError(f"{origin!r} has a port that is not a number") from None
            shown_port = "" if port in (None, {"http": 80, "https": 443}[parts.scheme]) else f":{port}"
            origins.append(f"{parts.scheme}://{parts.hostname}{shown_port}")
        return tuple(dict.fromkeys(origins))

    @field_validator("breaking_categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.strip().casefold() for c in value if c.strip()))

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_KEY_CHARS:
            raise ValueError(keyfile.SHORT_KEY)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
        return value

    @field_validator("secret_key_previous", mode="before")
    @classmethod
    def _previous_keys_split(cls, value: Any) -> Any:
        if isinstance(value, str | SecretStr):
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text.strip():
                raise ValueError("is empty: unset it to keep no previous key")
            return [part.strip() for part in text.split(",")]
        return value

    @field_validator("secret_key_previous")
    @classmethod
    def _previous_keys(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for n, key in enumerate(value, 1):
            if not key.get_secret_value().strip():
                raise ValueError(f"key {n} is empty (keys are separated by commas)")
            if len(key.get_secret_value()) < MIN_KEY_CHARS:
                raise ValueError(f"key {n}: {keyfile.SHORT_KEY}")
        return value

    @field_validator(  # every count, size and duration that zero or less would make meaningless
        "smtp_timeout", "smtp_data_timeout", "send_batch_size", "lease_seconds",
        "stale_after_minutes", "max_articles", "logo_width",
        "smtp_pool_size", "retry_lifetime_hours", "domain_concurrency", "bounce_threshold", "sender_processes",
        "share_recipient_article_per_day", "share_recipient_per_day", "share_global_per_hour",
        "share_form_max_age_minutes", "share_name_max_length", "share_note_max_length",
        "editor_session_hours", "spam_check_timeout", "retain_payload_days", "retain_outbox_days",
        "feed_poll_minutes", "feed_deadline_seconds", "feed_max_bytes", "subscribe_global_per_hour",
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"{value!r} must be greater than zero")
        return value

    @field_validator("confirm_expiry_hours", "confirm_interval_hours")
    @classmethod
    def _hours(cls, value: int) -> int:
        if not 1 <= value <= 24 * 365:
            raise ValueError(f"{value!r} must be between 1 and 8760 hours")
        return value

    @field_validator("web_port", "devmailbox_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError(f"{value} is not a TCP port (0-65535)")
        return value

    @field_validator("site_name", "sender_name")
    @classmethod
    def _display_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must not be empty")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must not contain line breaks or control characters (it goes into From:)")
        return value

    def __repr_args__(self) -> Any:
        """Connection URLs shown without their passwords (``SecretStr`` hides the keys)."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name in URL_FIELDS and isinstance(value, str) else value

    # derived values ---------------------------------------------------------------

    @property
    def smtp(self) -> SmtpConfig | None:
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def from_name(self) -> str:
        return self.sender_name or self.site_name

    @property
    def mail_domain(self) -> str:
        return self.sender_address.rsplit("@", 1)[1]

    @property
    def unsubscribe_mailto(self) -> str:
        return self.unsubscribe_address or f"unsubscribe@{self.mail_domain}"

    @property
    def keyring(self) -> Keyring:
        """The signing keys: ``secret_key`` first, then ``secret_key_previous``."""
        if self.secret_key is None:
            raise SettingsError(f"{ENV_PREFIX}SECRET_KEY", "is not set")
        return _keyring(self.secret_key.get_secret_value(),
                        tuple(k.get_secret_value() for k in self.secret_key_previous))

    @property
    def relay_smtputf8(self) -> bool:
        """Whether addresses with a non-ASCII local part can be delivered: the development
        mailbox supports SMTPUTF8; a configured relay only when ``smtputf8`` says so."""
        return self.smtputf8 if self.smtputf8 is not None else self.smtp_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def news_list(self, key: str) -> NewsList:
        """The list named ``key``, or ``NotFound`` naming the lists there are."""
        found = self.lists.get(key)
        if found is None:
            raise NotFound(f"no list named {key!r} (lists: {', '.join(self.lists)})",
                           public_message="لا توجد نشرة بهذا الاسم.")
        return found

    def cron_for(self, key: str) -> str:
        """The cron line of a scheduled list; an immediate list has none."""
        cron = self.news_list(key).cron
        if cron is None:
            raise NotFound(f"the {key} list is immediate: it has no schedule",
                           public_message="هذه النشرة للأخبار العاجلة، وليس لها موعد ثابت.")
        return cron

    def digest_subject_for(self, key: str) -> str:
        """A list's digest subject: ``title`` (the list's name and the date) or ``headline`` (the
        lead story's): the list's own ``subject_style``, else ``MAILER_DIGEST_SUBJECT``."""
        return self.news_list(key).subject_style or self.digest_subject

    @property
    def scheduled_lists(self) -> tuple[str, ...]:
        """Keys of the lists sent on a cron schedule, in the order of the settings."""
        return tuple(k for k, v in self.lists.items() if not v.immediate)

    @property
    def immediate_lists(self) -> tuple[str, ...]:
        """Keys of the lists that get breaking news as it happens."""
        return tuple(k for k, v in self.lists.items() if v.immediate)


URL_FIELDS = ("database_url", "smtp_url", "bounce_mailbox", "share_rate_storage", "rate_storage")  # may hold a password
log = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def _keyring(current: str, previous: tuple[str, ...]) -> Keyring:
    """One ``Keyring`` per set of keys: built once, not once per token."""
    return Keyring.of(current, previous)


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _explain(exc: ValidationError) -> SettingsError:
    problems = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "settings"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "is not a known setting"
        if field == "lists":  # nested: name the table and key, e.g. lists.morning.schedule
            path = ".".join(str(p) for p in err["loc"])
            where = env_name(field) if env_name(field) in os.environ else f"{ENV_PREFIX}CONFIG"
            problems.append((where, f"{path}: {message}"))
            continue
        if not err["loc"] and message.startswith(ENV_PREFIX):  # a check across settings names its own key
            key, _, message = message.partition(" ")
            problems.append((key, message))
            continue
        problems.append((env_name(field), message))
    key, message = problems[0]
    if len(problems) > 1:
        message += "; " + "; ".join(f"{k}: {m}" for k, m in problems[1:])
    return SettingsError(key, message)


# variables with the prefix that are not settings: the config file, and the test suite's own
OTHER_VARIABLES = frozenset({f"{ENV_PREFIX}CONFIG"})
OTHER_PREFIXES = (f"{ENV_PREFIX}TEST_",)


def _warn_unknown(environ: Mapping[str, str]) -> None:
    """A mistyped ``MAILER_*`` variable would be ignored without a word: name it."""
    known = {env_name(f) for f in Settings.model_fields} | OTHER_VARIABLES
    unknown = sorted(k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known
                     and not k.upper().startswith(OTHER_PREFIXES))
    if unknown:
        log.warning("ignored: %s %s not a setting (see `mailer settings` for the names)",
                    ", ".join(unknown), "is" if len(unknown) == 1 else "are")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from every source; a bad value raises a ``SettingsError`` naming it.

    With no ``secret_key`` anywhere, the keys come from ``data_dir/secret.key`` (one is
    generated on the first run), so that links in mail already sent keep working after a
    restart; a key file's further lines are previous keys, newest first.
    """
    _warn_unknown(os.environ)
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"{ENV_PREFIX}CONFIG", f"file {str(config_file)!r} does not exist")
    token = _TOML_PATH.set(config_file)
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise _explain(exc) from None
    except ValueError as exc:  # e.g. a TOML syntax error
        raise SettingsError(f"{ENV_PREFIX}CONFIG", str(exc)) from None
    finally:
        _TOML_PATH.reset(token)
    if settings.secret_key is None:
        current, *older = (SecretStr(k) for k in keyfile.read_or_create(settings.data_dir / keyfile.NAME))
        previous = (*older, *settings.secret_key_previous)
        settings = settings.model_copy(update={"secret_key": current, "secret_key_previous": previous})
    return settings
