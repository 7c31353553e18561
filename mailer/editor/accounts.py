"""Editor accounts and their sign-in sessions: Argon2id password hashes, random session tokens
kept only as SHA-256, a CSRF token per session, and every session revoked on a password change."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from mailer.core.models import Editor, EditorSession
from subscribers.addresses import check as check_address

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # Argon2 copes with more, but nobody types more, and hashing costs memory
_NAME = re.compile(r"[\w.-]{2,64}")  # \w includes Arabic letters
BAD_LOGIN = "اسم المستخدم أو كلمة المرور غير صحيحة."
LAST_ADMIN = "هذا آخر مشرف: امنح محرراً آخر دور المشرف أولاً."
ROLES = ("editor", "admin")  # editor: preview, curate, send, test; admin: also people and settings

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so that a wrong name costs as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignedIn:
    """The editor behind a valid session cookie, and that session's CSRF token."""

    editor_id: int
    name: str
    email: str
    session_id: str
    csrf_token: str
    role: str = "editor"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def check_role(role: str, *, field: str = "role") -> str:
    if role not in ROLES:
        raise InvalidInput(field, f"{role!r} is not one of {', '.join(ROLES)}")
    return role


def normalise_name(name: str) -> str:
    value = unicodedata.normalize("NFKC", name).strip().lower()
    if not _NAME.fullmatch(value):
        raise InvalidInput("name", "use 2 to 64 letters, digits, '.', '_' or '-'")
    return value


def check_password(password: str, *, field: str = "password") -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(field, f"must be at least {MIN_PASSWORD} characters",
                           public_message=f"كلمة المرور قصيرة: {MIN_PASSWORD} محارف على الأقل.")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(field, f"must be at most {MAX_PASSWORD} characters")
    return password


async def hash_password(password: str) -> str:
    """Argon2id costs a fifth of a second of CPU here: done off the event loop."""
    return await asyncio.to_thread(_hasher.hash, check_password(password))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def by_name(session: AsyncSession, name: str) -> Editor | None:
    return (await session.scalars(select(Editor).where(Editor.name == normalise_name(name)))).first()


async def add(session: AsyncSession, name: str, email: str, password: str, now: datetime,
              *, role: str | None = None) -> Editor:
    """A new editor; the name must be free. Without a role: ``admin`` while nobody is one (the
    first account of an installation can then manage the rest), ``editor`` after that."""
    name = normalise_name(name)
    if role is None:
        has_admin = (await session.scalars(select(Editor.id).where(Editor.role == "admin"))).first()
        role = "editor" if has_admin is not None else "admin"
    role = check_role(role)
    address = check_address(email, field="email").normalized
    if (await session.scalars(select(Editor.id).where(Editor.name == name))).first() is not None:
        raise Conflict(f"an editor named {name!r} already exists")
    editor = Editor(name=name, email=address, password_hash=await hash_password(password),
                    created_at=now, password_changed_at=now, role=role)
    session.add(editor)
    await session.flush()
    return editor


async def set_password(session: AsyncSession, editor_id: int, password: str, now: datetime) -> None:
    """A new password ends every session of the editor, everywhere."""
    editor = await session.get(Editor, editor_id)
    if editor is None:
        raise NotFound(f"no editor with id {editor_id}")
    editor.password_hash = await hash_password(password)
    editor.password_changed_at = now
    await session.execute(delete(EditorSession).where(EditorSession.editor_id == editor_id))


async def set_role(session: AsyncSession, name: str, role: str) -> Editor:
    """A new role takes effect on the editor's next request (sessions read it each time). The
    last admin stays one: nobody could give the role back from the browser."""
    role = check_role(role)
    editor = await by_name(session, name)
    if editor is None:
        raise NotFound(f"no editor named {name!r}")
    if editor.role == "admin" and role != "admin":
        admins = await session.scalar(select(func.count()).select_from(Editor).where(Editor.role == "admin"))
        if admins == 1:
            raise Conflict(f"{editor.name!r} is the last admin", public_message=LAST_ADMIN)
    editor.role = role
    return editor


async def everyone(session: AsyncSession, now: datetime) -> list[tuple[Editor, int]]:
    """Every editor with their number of live sessions, by name."""
    live = (select(func.count()).where(EditorSession.editor_id == Editor.id, EditorSession.expires_at > now)
            .scalar_subquery())
    return [(editor, int(count)) for editor, count in await session.execute(select(Editor, live).order_by(Editor.name))]


async def remove(session: AsyncSession, name: str) -> None:
    editor = await by_name(session, name)
    if editor is None:
        raise NotFound(f"no editor named {name!r}")
    await session.delete(editor)


async def authenticate(session: AsyncSession, name: str, password: str) -> Editor:
    """The editor whose name and password these are, else ``Unauthorized`` (same for both)."""
    try:
        editor = await by_name(session, name)
    except InvalidInput:
        editor = None
    stored = editor.password_hash if editor is not None else await asyncio.to_thread(_dummy_hash)
    if not await asyncio.to_thread(_verify, stored, password[:MAX_PASSWORD]) or editor is None:
        raise Unauthorized("wrong editor name or password", public_message=BAD_LOGIN)
    if _hasher.check_needs_rehash(editor.password_hash):
        editor.password_hash = await hash_password(password)
    return editor


async def start_session(session: AsyncSession, editor: Editor, now: datetime, lifetime: timedelta) -> str:
    """A new session; returns the token for the cookie (only its hash is stored)."""
    await session.execute(delete(EditorSession).where(EditorSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(EditorSession(id=_token_id(token), editor_id=editor.id,
                              csrf_token=secrets.token_urlsafe(32), created_at=now,
                              expires_at=now + lifetime))
    await session.flush()
    return token


async def signed_in(session: AsyncSession, token: str, now: datetime) -> SignedIn | None:
    """The editor of a live session, or None for a missing, expired or revoked one."""
    if not token or len(token) > 200:
        return None
    row = (
        await session.execute(
            select(EditorSession, Editor)
            .join(Editor, Editor.id == EditorSession.editor_id)
            .where(EditorSession.id == _token_id(token), EditorSession.expires_at > now)
        )
    ).first()
    if row is None:
        return None
    sess, editor = row
    return SignedIn(editor.id, editor.name, editor.email, sess.id, sess.csrf_token, editor.role)


async def end_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(EditorSession).where(EditorSession.id == session_id))
