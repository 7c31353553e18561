"""Editor accounts: Argon2id hashes, sign-in, sessions stored as hashes, revoked on a new password."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from mailer.core.errors import Conflict, InvalidAddress, InvalidInput, Unauthorized
from mailer.core.models import Editor, EditorSession
from mailer.delivery.service import Service
from mailer.editor import accounts

PASSWORD = "correct horse battery"
HOURS = timedelta(hours=12)


async def test_password_is_kept_only_as_an_argon2id_hash(service: Service) -> None:
    async with service.db.transaction() as session:
        await accounts.add(session, "Sara", "sara@news.example.com", PASSWORD, service.clock())
    async with service.db.transaction() as session:
        editor = (await session.scalars(select(Editor))).one()
    assert editor.name == "sara"  # names are case-insensitive
    assert editor.password_hash.startswith("$argon2id$")
    assert PASSWORD not in editor.password_hash
    assert PasswordHasher().verify(editor.password_hash, PASSWORD)


async def test_sign_in_with_the_right_password_only(service: Service) -> None:
    async with service.db.transaction() as session:
        await accounts.add(session, "sara", "sara@news.example.com", PASSWORD, service.clock())
        assert (await accounts.authenticate(session, "SARA", PASSWORD)).name == "sara"
        with pytest.raises(Unauthorized) as wrong:
            await accounts.authenticate(session, "sara", PASSWORD + "!")
        with pytest.raises(Unauthorized) as unknown:
            await accounts.authenticate(session, "nobody", PASSWORD)
        with pytest.raises(Unauthorized):
            await accounts.authenticate(session, "bad name with spaces", PASSWORD)
    # the same answer whether the name or the password was wrong
    assert wrong.value.public_message == unknown.value.public_message == accounts.BAD_LOGIN


async def test_bad_input_names_the_field(service: Service) -> None:
    async with service.db.transaction() as session:
        await accounts.add(session, "sara", "sara@news.example.com", PASSWORD, service.clock())
    cases = [
        (("x", "a@example.com", PASSWORD), InvalidInput, "name"),
        (("has space", "a@example.com", PASSWORD), InvalidInput, "name"),
        (("omar", "not-an-address", PASSWORD), InvalidAddress, "email"),
        (("omar", "omar@example.com", "short"), InvalidInput, "password"),
    ]
    for args, error, field in cases:
        async with service.db.transaction() as session:
            with pytest.raises(error) as raised:
                await accounts.add(session, *args, service.clock())
        assert raised.value.field == field
    async with service.db.transaction() as session:
        with pytest.raises(Conflict):
            await accounts.add(session, "SARA", "other@example.com", PASSWORD, service.clock())
    async with service.db.transaction() as session:
        assert len((await session.scalars(select(Editor))).all()) == 1  # nothing half-written


async def test_sessions_are_hashed_expire_and_end(service: Service) -> None:
    now = service.clock()
    async with service.db.transaction() as session:
        editor = await accounts.add(session, "sara", "sara@news.example.com", PASSWORD, now)
        token = await accounts.start_session(session, editor, now, HOURS)
    async with service.db.transaction() as session:
        stored = (await session.scalars(select(EditorSession))).one()
        assert stored.id == hashlib.sha256(token.encode()).hexdigest() and token not in stored.id
        who = await accounts.signed_in(session, token, now + timedelta(hours=11))
        assert who is not None and (who.name, who.email) == ("sara", "sara@news.example.com")
        assert who.csrf_token and who.csrf_token != token
        assert await accounts.signed_in(session, token, now + timedelta(hours=12, seconds=1)) is None
        assert await accounts.signed_in(session, token + "x", now) is None
        assert await accounts.signed_in(session, "", now) is None
        await accounts.end_session(session, who.session_id)
    async with service.db.transaction() as session:
        assert await accounts.signed_in(session, token, now) is None


async def test_a_new_password_ends_every_session(service: Service) -> None:
    now = service.clock()
    async with service.db.transaction() as session:
        sara = await accounts.add(session, "sara", "sara@news.example.com", PASSWORD, now)
        omar = await accounts.add(session, "omar", "omar@news.example.com", PASSWORD, now)
        laptop = await accounts.start_session(session, sara, now, HOURS)
        phone = await accounts.start_session(session, sara, now, HOURS)
        other = await accounts.start_session(session, omar, now, HOURS)
    async with service.db.transaction() as session:
        await accounts.set_password(session, sara.id, "a brand new passphrase", now)
    async with service.db.transaction() as session:
        assert await accounts.signed_in(session, laptop, now) is None
        assert await accounts.signed_in(session, phone, now) is None
        assert await accounts.signed_in(session, other, now) is not None  # other editors keep theirs
        with pytest.raises(Unauthorized):
            await accounts.authenticate(session, "sara", PASSWORD)
        assert (await accounts.authenticate(session, "sara", "a brand new passphrase")).id == sara.id
