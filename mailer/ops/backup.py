"""Backups and restores of the database: SQLite through its online backup API (a consistent copy
while the service keeps writing), PostgreSQL through ``pg_dump`` / ``pg_restore`` in their custom
format. The password goes to the PostgreSQL tools in ``PGPASSWORD``, never on a command line that
``ps`` would show."""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from mailer.core.errors import MailerError, SettingsError


@dataclass(frozen=True)
class Recipe:
    """A PostgreSQL tool's command line (without the password) and its environment."""

    argv: list[str]
    env: dict[str, str]

    def shown(self) -> str:
        prefix = "PGPASSWORD=... " if "PGPASSWORD" in self.env else ""
        return prefix + shlex.join(self.argv)


def sqlite_path(url: str) -> Path:
    path = url.split(":///", 1)[-1]
    if not path or path == ":memory:":
        raise SettingsError("MAILER_DATABASE_URL", "an in-memory SQLite database cannot be backed up")
    return Path(path)


def sqlite_backup(source: Path, target: Path) -> None:
    """Copy the live database ``source`` into ``target`` page by page (SQLite's backup API)."""
    if not source.is_file():
        raise MailerError(f"MAILER_DATABASE_URL: {source} does not exist")
    _copy(source, target)


def sqlite_restore(backup: Path, target: Path) -> None:
    """Replace the database ``target`` with the copy ``backup`` (the backup API the other way)."""
    try:
        with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as check:
            status = check.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        status = str(exc)
    if status != "ok":
        raise MailerError(f"FILE: {backup} is not a sound SQLite database ({status})")
    _copy(backup, target)


def _copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    except sqlite3.DatabaseError as exc:
        raise MailerError(f"FILE: {source} cannot be copied: {exc}") from None
    finally:
        dst.close()
        src.close()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The connection URI that libpq's tools take, and the environment with the password."""
    parsed = make_url(url)
    user = quote(parsed.username or "", safe="")
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    uri = f"postgresql://{user + '@' if user else ''}{host}{port}/{quote(parsed.database or '', safe='')}"
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    return uri, env


def pg_dump(url: str, target: Path) -> Recipe:
    uri, env = _libpq(url)
    return Recipe(["pg_dump", "--format=custom", "--no-owner", "--file", str(target), "--dbname", uri], env)


def pg_restore(url: str, backup: Path) -> Recipe:
    uri, env = _libpq(url)
    return Recipe(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                   "--dbname", uri, str(backup)], env)


def run(recipe: Recipe) -> None:
    """Run a PostgreSQL tool; a missing tool or a failure is a ``MailerError`` saying what to do."""
    if shutil.which(recipe.argv[0]) is None:
        raise MailerError(f"{recipe.argv[0]} is not installed (Debian: postgresql-client); run it where it is:\n"
                          f"  {recipe.shown()}")
    done = subprocess.run(recipe.argv, env={**os.environ, **recipe.env}, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise MailerError(f"{recipe.argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
