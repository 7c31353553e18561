"""Roles from the command line (``mailer editors add --role``, ``mailer editors role``), taking
effect on the next request; the console's own flows (add by an editor, suppress by an editor)
and the import's Arabic per-line problems, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.core.errors import Conflict, NotFound
from mailer.core.models import OutboxMessage
from mailer.delivery.notifier import Notifier
from mailer.delivery.service import Service
from mailer.editor import accounts
from subscribers import flows, importer, store, suppression
from subscribers.addresses import check
from tests.mailer.cli.test_editor_commands import config, mailer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_the_first_account_is_an_admin_unless_told_otherwise(service: Service) -> None:
    async with service.db.transaction() as session:
        first = await accounts.add(session, "hind", "hind@news.example.com", "correct horse battery", NOW)
        second = await accounts.add(session, "sara", "sara@news.example.com", "correct horse battery", NOW)
    assert (first.role, second.role) == ("admin", "editor")


async def test_a_first_account_can_be_made_a_plain_editor(service: Service) -> None:
    async with service.db.transaction() as session:
        only = await accounts.add(session, "sara", "sara@news.example.com", "correct horse battery", NOW,
                                  role="editor")
        later = await accounts.add(session, "omar", "omar@news.example.com", "correct horse battery", NOW)
    assert (only.role, later.role) == ("editor", "admin")  # still nobody to manage the others


async def test_editors_get_a_role_from_the_command_line(service: Service, tmp_path: Path) -> None:
    cfg = config(tmp_path, service)
    added = await mailer(cfg, "editors", "add", "hind", "--email", "hind@news.example.com", "--role", "admin",
                         "--password-stdin", stdin="correct horse battery\n")
    assert added.exit_code == 0, added.output
    plain = await mailer(cfg, "editors", "add", "sara", "--email", "sara@news.example.com", "--password-stdin",
                         stdin="correct horse battery\n")
    assert plain.exit_code == 0, plain.output
    wrong = await mailer(cfg, "editors", "add", "omar", "--email", "o@news.example.com", "--role", "boss",
                         "--password-stdin", stdin="correct horse battery\n")
    assert wrong.exit_code == 2 and "--role" in wrong.output
    listed = await mailer(cfg, "editors", "list")
    assert "admin" in listed.output and "editor" in listed.output
    async with service.db.transaction() as session:
        hind = await accounts.by_name(session, "hind")
        sara = await accounts.by_name(session, "sara")
        assert hind is not None and sara is not None and (hind.role, sara.role) == ("admin", "editor")
        token = await accounts.start_session(session, sara, NOW, timedelta(hours=1))
    promoted = await mailer(cfg, "editors", "role", "sara", "admin")
    assert promoted.exit_code == 0, promoted.output
    async with service.db.transaction() as session:
        who = await accounts.signed_in(session, token, NOW)
        assert who is not None and who.is_admin  # the live session sees it at once
    assert (await mailer(cfg, "editors", "role", "sara", "root")).exit_code == 2
    assert (await mailer(cfg, "editors", "role", "nobody", "admin")).exit_code == 1


async def test_an_editor_adds_and_suppresses_through_named_flows(service: Service) -> None:
    notify = Notifier(service.settings, service.renderer)
    async with service.db.transaction() as session:
        req = flows.Request(address=check("Huda@Example.org"), name="هدى", lists=("daily",))
        sub = await flows.add_by_operator(session, service.settings, req, confirmed=False, now=NOW, notify=notify)
        assert (sub.status, sub.source) == ("pending", "operator")
        sure = await flows.add_by_operator(session, service.settings,
                                           flows.Request(address=check("sure@example.org"), lists=("daily",)),
                                           confirmed=True, now=NOW, notify=notify)
        assert sure.status == "confirmed" and sure.confirmed_at == NOW
    async with service.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.kind == "confirm")) == 1  # none for "sure"
    with pytest.raises(Conflict):
        async with service.db.transaction() as session:
            await flows.add_by_operator(session, service.settings, flows.Request(address=check("huda@example.org")),
                                        confirmed=True, now=NOW, notify=notify)
    async with service.db.transaction() as session:
        await flows.suppress_by_operator(session, sub.id, NOW)
    async with service.db.transaction() as session:
        assert await suppression.reason_for(session, "huda@example.org") == "operator"
        assert (await store.by_email(session, "huda@example.org")).status == "unsubscribed"  # type: ignore[union-attr]
        # an operator's block holds against a new subscription request, unlike an unsubscribe
        outcome = await flows.subscribe(session, service.settings, flows.Request(address=check("huda@example.org")),
                                        now=NOW, notify=notify)
        assert outcome == "suppressed (operator)"
    with pytest.raises(Conflict):
        async with service.db.transaction() as session:
            await flows.add_by_operator(session, service.settings, flows.Request(address=check("huda@example.org")),
                                        confirmed=True, now=NOW, notify=notify)
    with pytest.raises(NotFound):
        async with service.db.transaction() as session:
            await flows.suppress_by_operator(session, 999_999, NOW)


def test_import_problems_name_the_field_in_arabic() -> None:
    from mailer.core.lists import default_lists
    from mailer.editor.console import problem_row

    data = ("email,name,lists,sections\n"
            "ok@example.org,,daily,\n"
            "bad,,daily,\n"
            "x@example.org,,nope,\n"
            "y@example.org,,daily,غير موجود\n"
            "ok@example.org,,daily,\n").encode()
    parsed = importer.parse(data, lists=default_lists("0 7 * * *", "0 7 * * 5"), sections={})
    rows = [problem_row(p) for p in parsed.problems]
    assert [(r["line"], r["field"]) for r in rows] == [
        (3, "البريد الإلكتروني"), (4, "النشرات"), (5, "الأقسام"), (6, "البريد الإلكتروني")]
    assert all(r["message"] and "\u0600" <= r["message"][0] <= "\u06ff" for r in rows)
    assert str(parsed.problems[0]).startswith("line 3: email:")  # the CLI's English report is unchanged
    header = importer.parse(b"name\nx\n", lists=default_lists("0 7 * * *", "0 7 * * 5"), sections={})
    assert problem_row(header.problems[0])["field"] == "سطر العناوين"
