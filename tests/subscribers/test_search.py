"""The console's subscriber search: the normalised keys (pure), and keyset pages by prefix that
never use OFFSET and never skip or repeat a row, on SQLite and PostgreSQL (where the "C"
collation keeps the prefix range exact whatever the database's locale)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from mailer.core.errors import InvalidInput
from mailer.delivery.service import Service
from subscribers import search, store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_name_keys_ignore_case_marks_tatweel_and_hamza_forms() -> None:
    assert search.name_search_key("إِيمَان  الـعبيدي") == "ايمان العبيدي"
    assert search.name_search_key("أحمد") == search.name_search_key("احمد") == "احمد"
    assert search.name_search_key("Sara ALI") == "sara ali"
    assert search.name_search_key("ＳＡＲＡ") == "sara"  # full width
    assert search.name_search_key("مكتبة مصطفى") == "مكتبه مصطفي"
    assert search.name_search_key("   ") is None and search.name_search_key(None) is None
    assert search.email_search_key(" Ali@Example.ORG ") == "ali@example.org"


def test_what_a_query_names_without_a_choice() -> None:
    assert search.guess_by("ali@") == "email" and search.guess_by("ali") == "email"
    assert search.guess_by("علي") == "name" and search.guess_by("علي@") == "email"


@given(st.text(max_size=40))
def test_a_key_is_a_fixed_point_and_bounded(name: str) -> None:
    key = search.name_search_key(name)
    assert key is None or (search.name_search_key(key) == key and len(key) <= search.KEY_MAX)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_pages_never_use_offset(dialect: object) -> None:
    for query in (search.Query(q="ali"), search.Query(), search.Query(q="ali", after="5:ali5@x"),
                  search.Query(after="99", status="confirmed", list_name="daily", section_id=3)):
        compiled = search.statement(query)[0].compile(dialect=dialect,  # type: ignore[arg-type]
                                                      compile_kwargs={"literal_binds": True})
        sql = str(compiled).upper()
        assert re.search(r"OFFSET (?!0\b)", sql) is None and "LIMIT 51" in sql  # SQLite writes "OFFSET 0"


async def test_prefix_pages_cover_every_match_once_in_order(service: Service) -> None:
    emails = [f"{p}{i}@example.org" for p in ("ab", "abc", "Ab.", "ab-", "ac", "aa", "a") for i in range(9)]
    emails += ["ab\u00e9@example.org", "ab\U0001f600@example.org"]
    async with service.db.transaction() as session:
        for email in emails:
            await store.add(session, email, now=NOW, name="علي")
    expected = sorted(e.lower() for e in emails if e.lower().startswith("ab"))
    seen: list[str] = []
    after = None
    async with service.db.transaction() as session:
        while True:
            page = await search.find(session, search.Query(q="AB", by="email", after=after, limit=7))
            subs = [await store_get(session, i) for i in page.ids]
            seen += subs
            if page.next is None:
                break
            after = page.next
    assert seen == expected
    async with service.db.transaction() as session:
        with pytest.raises(InvalidInput):
            await search.find(session, search.Query(q="ab", after="not-a-cursor"))


async def store_get(session: object, subscriber_id: int) -> str:
    from subscribers.models import Subscriber
    sub = await session.get(Subscriber, subscriber_id)  # type: ignore[attr-defined]
    return str(sub.search_email)
