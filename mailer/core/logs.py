"""Logging for every command: plain text or one JSON object a line (``MAILER_LOG_FORMAT=json``,
by python-json-logger), and never a password: credentials in URLs and the values of secret
settings are masked in every line, whatever logged them."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from mailer.core.settings import Settings

NOISY_LOGGERS = ("aiosqlite", "alembic", "apscheduler.executors.default", "mail.log", "httpx", "flufl.bounce")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(?=@)", re.IGNORECASE)
MASK = "***"


def secrets_of(settings: Settings) -> list[str]:
    """The secret values in ``settings`` that no log line may show."""
    values = [settings.secret_key, settings.api_token, settings.metrics_token, settings.share_captcha_secret,
              *settings.secret_key_previous]
    found = [v.get_secret_value() for v in values if v is not None]
    smtp = settings.smtp
    if smtp is not None and smtp.password:
        found.append(smtp.password)
    return [s for s in found if len(s) >= 4]


def redact(text: str, secrets: Iterable[str]) -> str:
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class _Redacting(logging.Formatter):
    secrets: tuple[str, ...] = ()

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class TextFormatter(_Redacting):
    pass


class JsonLines(_Redacting, JsonFormatter):
    """``{"time", "level", "logger", "message", ...extra}``: the ``extra`` of a log call (``event``,
    ``edition_id``, ``outcomes`` ...) become fields of their own."""


def formatter(settings: Settings) -> logging.Formatter:
    made: _Redacting
    if settings.log_format == "json":
        made = JsonLines("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         reserved_attrs=[*RESERVED_ATTRS, "color_message"])  # uvicorn's copy with ANSI colours
    else:
        made = TextFormatter(TEXT_FORMAT)
    made.secrets = tuple(secrets_of(settings))
    return made


def configure(settings: Settings, *, verbose: bool = False, stream: Any = None) -> None:
    """Set up the root logger for a command; a second call replaces the first set-up."""
    level = "DEBUG" if verbose else settings.log_level
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
