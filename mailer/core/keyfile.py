"""The generated key file, ``DATA_DIR/secret.key``: the signing keys when ``MAILER_SECRET_KEY`` is
not set. Made with one random key on the first run, so that links in mail already sent keep
working after a restart; an operator rotates by adding a new key as the first line (the others
stay valid as previous keys, newest first) and deletes a line once its links may die."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from mailer.core.errors import SettingsError
from mailer.core.signing import MIN_KEY_CHARS

log = logging.getLogger(__name__)
NAME = "secret.key"
VARIABLE = "MAILER_SECRET_KEY"  # the file stands in for it, so its errors name it
SHORT_KEY = (f"must be at least {MIN_KEY_CHARS} characters (try: python -c "
             "'import secrets; print(secrets.token_urlsafe(32))')")


def read_or_create(path: Path) -> list[str]:
    """The keys of the key file, newest first (blank lines skipped); made on first use."""
    try:
        if not path.exists():
            _create(path)
        _private(path)
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(VARIABLE, f"is not set, and {str(path)!r} cannot be read: {exc}") from None
    keys = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
    for n, value in keys:
        if len(value) < MIN_KEY_CHARS:
            raise SettingsError(VARIABLE, f"is not set, and line {n} of {str(path)!r} {SHORT_KEY}")
    if not keys:
        raise SettingsError(VARIABLE, f"is not set, and {str(path)!r} holds no key (restore it, or set {VARIABLE})")
    return [value for _, value in keys]


def _private(path: Path) -> None:
    """Only its owner may read the key file: one written by an older version or by hand with
    wider permissions is tightened to 0600 (and said so)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)
        log.warning("%s was readable by others (mode %o): now 0600", path, mode)


def _create(path: Path) -> None:
    """Write a new key atomically: two processes starting at once end up with the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(secrets.token_urlsafe(48) + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process was first: its key is the one
    finally:
        draft.unlink()
