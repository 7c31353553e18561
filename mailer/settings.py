"""The one settings object: defaults < TOML file < ``MAILER_*`` environment < command-line flags."""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mailer.errors import SettingsError

ENV_PREFIX = "MAILER_"
_TOML_PATH: ContextVar[Path | None] = ContextVar("_TOML_PATH", default=None)

TlsMode = Literal["none", "starttls", "implicit"]


@dataclass(frozen=True)
class SmtpConfig:
    """A relay parsed from ``MAILER_SMTP_URL``."""

    host: str
    port: int
    tls: TlsMode
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never print the password
        return f"SmtpConfig(host={self.host!r}, port={self.port}, tls={self.tls!r})"


def parse_smtp_url(url: str) -> SmtpConfig:
    """``smtp://`` (plain), ``smtp+starttls://`` or ``smtps://`` (implicit TLS); ``?tls=`` overrides."""
    parts = urlsplit(url)
    schemes: dict[str, TlsMode] = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "implicit"}
    if parts.scheme not in schemes:
        raise ValueError(f"scheme {parts.scheme!r} is not one of smtp, smtp+starttls, smtps")
    tls = schemes[parts.scheme]
    query = parse_qs(parts.query)
    if "tls" in query:
        wanted = query["tls"][-1]
        if wanted not in ("none", "starttls", "implicit"):
            raise ValueError(f"tls {wanted!r} is not one of none, starttls, implicit")
        tls = wanted  # type: ignore[assignment]
    if not parts.hostname:
        raise ValueError("the host is missing")
    try:
        port = parts.port
    except ValueError:
        raw = parts.netloc.rsplit(":", 1)[-1]
        raise ValueError(f"port {raw!r} is not an integer") from None
    if port is None:
        port = 465 if tls == "implicit" else 587 if tls == "starttls" else 25
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class Settings(BaseSettings):
    """Every setting of the service. Frozen: build a new one rather than change it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True
    )

    # storage
    database_url: str = "sqlite+aiosqlite:///mailer.db"
    data_dir: Path = Path("mailer-data")

    # delivery
    smtp_url: str | None = None
    smtp_timeout: float = 60.0
    smtp_data_timeout: float = 600.0
    send_batch_size: int = 200
    lease_seconds: int = 300

    # identity
    site_name: str = "أخبار الموقع"
    base_url: str = "http://127.0.0.1:8000"
    sender_address: str = "newsletter@example.com"
    sender_name: str | None = None
    unsubscribe_address: str | None = None

    # digests
    timezone: str = "Asia/Baghdad"
    daily_cron: str = "0 7 * * *"
    weekly_cron: str = "0 7 * * 5"
    stale_after_minutes: int = 120
    max_articles: int = 20
    digits: Literal["latin", "arabic"] = "latin"
    date_locale: str = "ar"
    hijri: bool = False
    hijri_offset_days: int = 0
    templates_dir: Path | None = None

    # security
    secret_key: SecretStr | None = None
    api_token: SecretStr | None = None

    # editors
    editor_session_hours: float = 12.0
    spamassassin_command: str = "spamassassin"
    spam_check_timeout: float = 20.0

    # processes
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    devmailbox_host: str = "127.0.0.1"
    devmailbox_port: int = 8025
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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
        return value.rstrip("/")

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

    @field_validator("daily_cron", "weekly_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from mailer.schedule import parse_cron  # the one module that imports APScheduler

        parse_cron(value, "UTC")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (try: python -c "
                             "'import secrets; print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("editor_session_hours", "spam_check_timeout")
    @classmethod
    def _editor_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"{value!r} must be greater than zero")
        return value

    @field_validator(
        "smtp_timeout", "smtp_data_timeout", "send_batch_size", "lease_seconds",
        "stale_after_minutes", "max_articles",
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"{value!r} must be greater than zero")
        return value

    @field_validator("web_port", "devmailbox_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError(f"{value} is not a TCP port (0-65535)")
        return value

    @model_validator(mode="after")
    def _names(self) -> Settings:
        if not self.site_name.strip():
            raise ValueError("site_name must not be empty")
        return self

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
    def secret(self) -> bytes:
        if self.secret_key is None:
            raise SettingsError(f"{ENV_PREFIX}SECRET_KEY", "is not set")
        return self.secret_key.get_secret_value().encode()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def cron_for(self, list_name: str) -> str:
        return {"daily": self.daily_cron, "weekly": self.weekly_cron}[list_name]


LISTS = ("daily", "weekly")


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _explain(exc: ValidationError) -> SettingsError:
    problems = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "settings"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "is not a known setting"
        problems.append((env_name(field), message))
    key, message = problems[0]
    if len(problems) > 1:
        message += "; " + "; ".join(f"{k}: {m}" for k, m in problems[1:])
    return SettingsError(key, message)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from every source; a bad value raises a ``SettingsError`` naming it.

    With no ``secret_key`` anywhere, one is generated once and kept in ``data_dir`` so that
    links in mail already sent keep working after a restart.
    """
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
        settings = settings.model_copy(update={"secret_key": SecretStr(_stored_secret(settings))})
    return settings


def _stored_secret(settings: Settings) -> str:
    path = settings.data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value
