"""Newsletters as data: lists defined in the TOML settings (morning, evening, a sport letter drawing
from one section, breaking news), each going to its own subscribers with its own name, sender and
templates; the subscribe form, the preferences page, CSV import, the CLI and the editor pages all
take any list; an edition is still enqueued with one INSERT ... SELECT."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from typer.testing import CliRunner

from mailer.articles import ingest
from mailer.core.models import Edition
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.editions import planning
from subscribers import store
from tests.conftest import Clock
from tests.subscribers.helpers import link, subscriber_row
from tests.support import factories
from tests.support.cli import mailer
from tests.support.smtpd import SMTPServer

NEWSROOM = {
    "morning": {"name": "نشرة الصباح", "schedule": "0 6 * * *", "description": "أهم الأخبار قبل العمل"},
    "evening": {"name": "نشرة المساء", "schedule": "0 18 * * *"},
    "sport": {"name": "النشرة الرياضية", "schedule": "0 8 * * *", "sections": ["رياضة"],
              "sender_name": "رياضة الموقع", "template": "sportdesk"},
    "breaking": {"name": "الأخبار العاجلة", "schedule": "immediate", "daily_cap": 2},
}
TOML = """
[lists.morning]
name = "نشرة الصباح"
schedule = "0 6 * * *"
description = "أهم الأخبار قبل العمل"

[lists.evening]
name = "نشرة المساء"
schedule = "0 18 * * *"

[lists.sport]
name = "النشرة الرياضية"
schedule = "0 8 * * *"
sections = ["رياضة"]
sender_name = "رياضة الموقع"
template = "sportdesk"

[lists.breaking]
name = "الأخبار العاجلة"
schedule = "immediate"
daily_cap = 2
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """An operator's template directory with an override for the sport list's subject only."""
    folder = tmp_path / "templates" / "email" / "sportdesk"
    folder.mkdir(parents=True)
    (folder / "digest.subject.txt").write_text(
        "الملاعب اليوم: {{ articles[0].title if articles else 'لا جديد' }}\n", encoding="utf-8")
    return tmp_path / "templates"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer,
             templates: Path) -> Settings:
    return make_settings(database_url=database_url, smtp_url=smtp_server.url, lists=NEWSROOM,
                         templates_dir=templates)


async def lists_of(svc: Service, email: str) -> set[str]:
    sub = await subscriber_row(svc, email)
    assert sub is not None
    async with svc.db.transaction() as session:
        return set((await store.lists_of(session, [sub.id])).get(sub.id, ()))


async def test_each_list_goes_to_its_own_subscribers_with_its_name_sender_and_sections(
    service: Service, smtp_server: SMTPServer, clock: Clock
) -> None:
    await factories.ingest_items(service, 2, clock.now, section="سياسة")
    await factories.subscriber(service, "early@example.org", lists=("morning",))
    await factories.subscriber(service, "fan@example.org", lists=("morning", "sport"))
    await factories.subscriber(service, "late@example.org", lists=("evening",))
    parsed = factories.rss([factories.item(n, clock.now, section="رياضة", title=f"هدف في الدقيقة {n}")
                            for n in (50, 51)])
    async with service.db.transaction() as session:
        await ingest.store(session, ingest.parse_feed(parsed, now=clock.now).articles)

    for name in ("morning", "sport", "evening"):
        result = await service.run_list(name, clock.now)
        assert result.action == "sending", result.describe()
    await service.sender.drain()
    got: dict[tuple[str, str], Any] = {
        (r.rcpt_tos[0], r.message["List-Id"].split("<")[1].split(".")[0]): r.message for r in smtp_server.received
    }
    assert sorted(got) == [("early@example.org", "morning"), ("fan@example.org", "morning"),
                           ("fan@example.org", "sport"), ("late@example.org", "evening")]
    sport = got[("fan@example.org", "sport")]
    assert sport["Subject"].startswith("الملاعب اليوم: هدف")  # the list's own template directory
    assert sport["From"].addresses[0].display_name == "رياضة الموقع"
    sport_text = sport.get_body(("plain",)).get_content()
    assert "هدف في الدقيقة" in sport_text and "عن العراق" not in sport_text  # only its section
    morning_html = got[("early@example.org", "morning")].get_body(("html",)).get_content()
    assert "نشرة الصباح" in morning_html and "عن العراق" in morning_html
    assert got[("early@example.org", "morning")]["From"].addresses[0].display_name == "أخبار الموقع"


async def test_an_edition_is_enqueued_with_one_statement(service: Service, clock: Clock) -> None:
    await factories.ingest_items(service, 2, clock.now)
    for n in range(30):
        await factories.subscriber(service, f"r{n}@example.org", lists=("morning", "evening") if n % 2 else ("morning",))
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = service.db.engine.sync_engine
    async with service.db.transaction() as session:
        edition, _ = await planning.get_or_create(session, "morning", "test", clock.now, clock.now)
        await session.flush()
        edition.status = "sending"
        await session.flush()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            enqueued = await outbox.enqueue_edition(session, edition, clock.now)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert enqueued == 30
    assert len(statements) == 1 and re.match(r"\s*INSERT INTO outbox .*SELECT", statements[0], re.S)


async def test_subscribe_form_and_json_offer_and_take_the_lists(service: Service, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        page = await client.get("/subscribe")
        for value in ("morning", "evening", "sport", "breaking"):
            assert f'name="lists" value="{value}"' in page.text
        assert "نشرة الصباح" in page.text and "أهم الأخبار قبل العمل" in page.text
        assert (await client.post("/subscribe", json={"email": "two@example.org", "lists": ["sport", "breaking"]})
                ).status_code == 200
        assert (await client.post("/subscribe", data={"email": "form@example.org", "lists": ["evening"],
                                                       "lists_shown": "1"})).status_code == 200
        assert (await client.post("/subscribe", json={"email": "plain@example.org"})).status_code == 200
        by_name = await client.post("/subscribe", json={"email": "named@example.org", "lists": ["نشرة المساء"]})
        assert by_name.status_code == 200
        refused = await client.post("/subscribe", json={"email": "x@example.org", "lists": ["monthly"]})
        nothing = await client.post("/subscribe", data={"email": "y@example.org", "lists_shown": "1"})
    assert await lists_of(service, "two@example.org") == {"sport", "breaking"}
    assert await lists_of(service, "form@example.org") == {"evening"}
    assert await lists_of(service, "plain@example.org") == {"morning"}  # a bare snippet: the first list
    assert await lists_of(service, "named@example.org") == {"evening"}
    assert refused.status_code == 400 and refused.json()["field"] == "lists"
    assert refused.json()["message"] == "إحدى النشرات المختارة غير موجودة."
    assert nothing.status_code == 400 and "اختر نشرة واحدة على الأقل" in nothing.text
    assert await subscriber_row(service, "x@example.org") is None


async def test_preferences_change_the_lists(
    service: Service, smtp_server: SMTPServer, clock: Clock, live_app: str
) -> None:
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org", lists=("morning",))
    await service.run_list("morning", clock.now)
    await service.sender.drain()
    prefs = link(smtp_server.received[0], "/p/")
    async with httpx.AsyncClient(base_url=live_app) as client:
        page = await client.get(prefs)
        assert re.search(r'value="morning" checked', page.text) and not re.search(r'value="evening" checked', page.text)
        saved = await client.post(prefs, data={"action": "save", "lists": ["evening", "breaking"], "lists_shown": "1"})
        assert saved.status_code == 200
        assert await lists_of(service, "reader@example.org") == {"evening", "breaking"}
        none = await client.post(prefs, data={"action": "save", "lists_shown": "1"})
        assert none.status_code == 400 and "اختر نشرة واحدة على الأقل" in none.text
    assert await lists_of(service, "reader@example.org") == {"evening", "breaking"}


async def test_csv_import_and_export_take_lists_by_key_or_arabic_name(
    service: Service, cli_env: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "mailer.toml"
    config.write_text(TOML, encoding="utf-8")
    monkeypatch.setenv("MAILER_CONFIG", str(config))
    data = tmp_path / "people.csv"
    data.write_text("email,lists\none@example.org,morning|النشرة الرياضية\ntwo@example.org,\n"
                    "three@example.org,weekly\n", encoding="utf-8")
    code, out, err = await mailer(cli_env, "subscribers", "import", str(data), "--confirmed")
    assert code == 1 and "2 added" in out
    assert "line 4: lists: 'weekly' is not one of the lists (morning, evening, sport, breaking)" in err
    assert await lists_of(service, "one@example.org") == {"morning", "sport"}
    assert await lists_of(service, "two@example.org") == {"morning"}
    code, out, _ = await mailer(cli_env, "subscribers", "export")
    assert code == 0 and "one@example.org,,confirmed,morning|sport," in out


async def test_cli_sends_any_scheduled_list_and_explains_an_immediate_one(
    service: Service, smtp_server: SMTPServer, clock: Clock, cli_env: CliRunner, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "mailer.toml"
    config.write_text(TOML, encoding="utf-8")
    monkeypatch.setenv("MAILER_CONFIG", str(config))
    await factories.ingest_items(service, 2, datetime.now(UTC))  # the command runs on the real clock
    await factories.subscriber(service, "late@example.org", lists=("evening",))
    code, out, err = await mailer(cli_env, "digest", "send", "--now", "--list", "evening")
    assert code == 0, err
    assert "being sent to 1 subscribers" in out
    assert "<evening.news.example.com>" in smtp_server.received[-1].message["List-Id"]
    code, _, err = await mailer(cli_env, "digest", "send", "--now", "--list", "breaking")
    assert code == 2 and "an immediate list gets breaking news, not digests" in err
    code, out, err = await mailer(cli_env, "preview", "welcome", "sport", "--no-spam")
    assert code == 0, err
    assert "النشرة الرياضية" in out
    async with service.db.transaction() as session:
        assert [e.list_name for e in await session.scalars(select(Edition))] == ["evening"]


async def test_editor_pages_show_and_preview_any_list(service: Service, clock: Clock, live_app: str) -> None:
    from tests.mailer.web.test_editor_auth import sign_in

    await factories.ingest_items(service, 2, clock.now)
    await factories.editor(service)
    async with httpx.AsyncClient(base_url=live_app) as client:
        assert (await sign_in(client)).status_code == 303
        home = await client.get("/editor")
        upcoming = home.text.split('id="upcoming"')[1].split("</section>")[0]
        for name in ("نشرة الصباح", "نشرة المساء", "النشرة الرياضية"):
            assert name in upcoming
        assert "الأخبار العاجلة" not in upcoming  # an immediate list has no next edition
        nav = home.text.split('class="topbar"')[1].split("</nav>")[0]
        assert "العدد القادم: النشرة الرياضية" in nav and "ref=daily" not in nav
        default = await client.get("/editor/preview/digest")
        assert default.status_code == 200 and "نشرة الصباح" in default.text
        sport = await client.get("/editor/preview/digest", params={"ref": "sport"})
        assert sport.status_code == 200 and "النشرة الرياضية" in sport.text
        welcome = await client.get("/editor/preview/welcome", params={"ref": "breaking"})
        assert welcome.status_code == 200 and "فور نشرها" in welcome.text + (
            await client.get("/editor/preview/welcome/frame", params={"ref": "breaking"})).text
        immediate = await client.get("/editor/preview/digest", params={"ref": "breaking"})
        assert immediate.status_code == 404 and "للأخبار العاجلة" in immediate.text
        unknown = await client.get("/editor/preview/confirm", params={"ref": "daily"})
        assert unknown.status_code == 400 and "نشرة الصباح" in unknown.text
