"""The console's people side over real HTTP, on SQLite and PostgreSQL: roles (an editor gets a
403 page in Arabic on every admin page, and no admin links), CSRF on every change, each action
through its flow and into the audit log, the forget confirmation step, CSV import as a
background job with a per-line report, the streamed export, and the settings with secrets hidden."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from mailer.core.models import OutboxMessage
from mailer.delivery.service import Service
from mailer.editor import accounts
from subscribers import store, suppression
from subscribers.models import AuditEntry, ImportJob, Subscriber
from tests.conftest import SECRET, Clock
from tests.mailer.web.test_editor_auth import page_csrf, sign_in
from tests.support import factories
from tests.support.smtpd import SMTPServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ADMIN_PAGES = ["/editor/subscribers", "/editor/subscribers/1", "/editor/subscribers/1/forget", "/editor/audit",
               "/editor/settings", "/editor/subscribers/import", "/editor/subscribers/import/1",
               "/editor/subscribers/export.csv", "/editor/editors", "/editor/deliverability"]
ADMIN_POSTS = ["/editor/subscribers", "/editor/subscribers/1/unsubscribe", "/editor/subscribers/1/suppress",
               "/editor/subscribers/1/forget", "/editor/subscribers/import", "/editor/editors/sara/role"]


@pytest.fixture
async def people(service: Service, clock: Clock) -> Subscriber:
    clock.now = NOW
    await factories.editor(service, "sara")  # an editor
    await factories.editor(service, "hind", "hind@news.example.com")
    async with service.db.transaction() as session:
        await accounts.set_role(session, "hind", "admin")
    return await factories.subscriber(service, "reader@example.org", name="أحمد الجبوري")




async def test_an_editor_gets_a_403_page_in_arabic_on_every_admin_page(people: Subscriber, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "sara")
        home = await client.get("/editor")
        assert home.status_code == 200 and 'href="/editor/subscribers"' not in home.text
        token = await page_csrf(client)
        for path in ADMIN_PAGES:
            reply = await client.get(path)
            assert reply.status_code == 403, path
            assert "للمشرفين وحدهم" in reply.text and 'dir="rtl"' in reply.text
        for path in ADMIN_POSTS:
            reply = await client.post(path, data={"csrf": token, "confirm": "erase", "email": "x@example.org",
                                                  "role": "admin"})
            assert reply.status_code == 403, path
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "hind")
        home = await client.get("/editor")
        assert 'href="/editor/subscribers"' in home.text and 'href="/editor/settings"' in home.text
        for path in ADMIN_PAGES[:5]:
            reply = await client.get(path.replace("/1", f"/{people.id}"))
            assert reply.status_code == 200, path
            assert "default-src 'none'" in reply.headers["content-security-policy"]
            assert "script" not in reply.headers["content-security-policy"]


async def test_every_change_needs_the_csrf_token_and_changes_nothing_without_it(
    people: Subscriber, live_app: str, service: Service
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "hind")
        for path in ADMIN_POSTS:
            for form in ({}, {"csrf": "forged"}):
                reply = await client.post(path.replace("/1/", f"/{people.id}/"),
                                          data={**form, "confirm": "erase", "email": "new@example.org",
                                                "lists": "daily", "role": "admin"})
                assert reply.status_code == 403, (path, form)
    async with service.db.transaction() as session:
        sub = await session.get(Subscriber, people.id)
        assert sub is not None and sub.status == "confirmed"
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert (await accounts.by_name(session, "sara")).role == "editor"  # type: ignore[union-attr]
        assert await session.scalar(select(func.count()).select_from(Subscriber)) == 1


async def test_add_unsubscribe_suppress_and_forget_go_through_flows_into_the_audit_log(
    people: Subscriber, live_app: str, service: Service
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "hind")
        token = await page_csrf(client, "/editor/subscribers")
        # add, pending: a confirmation mail is queued
        reply = await client.post("/editor/subscribers", data={"csrf": token, "email": "New.One@Example.org",
                                                               "name": "منى", "lists": ["daily", "weekly"]})
        assert reply.status_code == 303
        new_id = int(re.search(r"/editor/subscribers/(\d+)\?done=added", reply.headers["location"]).group(1))
        page = await client.get(reply.headers["location"])
        assert "أُضيف المشترك" in page.text and "بانتظار التأكيد" in page.text
        # the same mailbox again: refused in Arabic, nothing added
        again = await client.post("/editor/subscribers", data={"csrf": token, "email": "new.one@example.org",
                                                               "lists": "daily"})
        assert again.status_code == 409 and "مشترك بالفعل" in again.text
        bad = await client.post("/editor/subscribers", data={"csrf": token, "email": "not an address",
                                                             "lists": "daily"})
        assert bad.status_code == 400 and 'id="add-error"' in bad.text
        nolist = await client.post("/editor/subscribers", data={"csrf": token, "email": "x@example.org"})
        assert nolist.status_code == 400 and "اختر نشرة" in nolist.text

        reply = await client.post(f"/editor/subscribers/{people.id}/unsubscribe", data={"csrf": token})
        assert reply.status_code == 303
        reply = await client.post(f"/editor/subscribers/{new_id}/suppress", data={"csrf": token})
        assert reply.status_code == 303
        async with service.db.transaction() as session:
            assert (await session.get(Subscriber, people.id)).status == "unsubscribed"
            assert await suppression.reason_for(session, "reader@example.org") == "unsubscribe"
            assert (await session.get(Subscriber, new_id)).status == "unsubscribed"
            assert await suppression.reason_for(session, "new.one@example.org") == "operator"
            confirm_mail = await session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind == "confirm", OutboxMessage.subscriber_id == new_id))
            assert confirm_mail == 1
        # a suppressed address cannot be added back from the console; another can
        async with service.db.transaction() as session:
            await suppression.suppress(session, "blocked@example.org", "hard_bounce")
        blocked = await client.post("/editor/subscribers", data={"csrf": token, "email": "Blocked@example.org",
                                                                 "lists": "daily"})
        assert blocked.status_code == 409 and "محظور" in blocked.text
        fine = await client.post("/editor/subscribers", data={"csrf": token, "email": "x@example.org",
                                                              "lists": "daily", "confirmed": "1"})
        assert fine.status_code == 303
        page = await client.get(f"/editor/subscribers/{new_id}")
        assert 'data-reason="operator"' in page.text and "حظره محرر" in page.text
        assert 'data-action="suppress"' in page.text and 'data-action="add"' in page.text

        # forget: the GET is a confirmation page; a POST without the confirmation goes back there
        confirm = await client.get(f"/editor/subscribers/{people.id}/forget")
        assert confirm.status_code == 200 and "لا يمكن التراجع" in confirm.text and 'value="erase"' in confirm.text
        reply = await client.post(f"/editor/subscribers/{people.id}/forget", data={"csrf": token})
        assert reply.status_code == 303 and reply.headers["location"].endswith("/forget")
        async with service.db.transaction() as session:
            assert await session.get(Subscriber, people.id) is not None
        reply = await client.post(f"/editor/subscribers/{people.id}/forget", data={"csrf": token, "confirm": "erase"})
        assert reply.status_code == 303
        log = await client.get(reply.headers["location"])
        assert log.status_code == 200 and "مُحيت بيانات المشترك" in log.text
        assert "reader@example.org" not in log.text  # the log keeps no address of an erased person
        assert (await client.get(f"/editor/subscribers/{people.id}")).status_code == 404
    async with service.db.transaction() as session:
        assert await session.get(Subscriber, people.id) is None
        assert await suppression.reason_for(session, "reader@example.org") == "forget"
        entries = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.actor, e.action) for e in entries] == [
        ("hind", "add"), ("hind", "unsubscribe"), ("hind", "suppress"), ("hind", "add"), ("hind", "forget")]
    assert [e.subscriber_id for e in entries if e.action != "add"] == [people.id, new_id, people.id]
    assert all("@" not in e.detail for e in entries)
    assert entries[1].detail == "الحالة: مشترك ← ألغى اشتراكه"
    assert entries[2].detail == "الحالة: بانتظار التأكيد ← ألغى اشتراكه؛ حُظر العنوان"
    assert all(e.at == NOW for e in entries)


async def test_search_by_prefix_pages_by_keyset_and_filters(people: Subscriber, live_app: str, service: Service) -> None:
    async with service.db.transaction() as session:
        for i in range(130):
            await store.add(session, f"ali{i:03d}@example.org", now=NOW, name="عليّ" if i % 2 else "Ali",
                            status="confirmed" if i % 3 else "paused", lists=("weekly",) if i % 5 == 0 else ("daily",))
        await store.add(session, "zed@example.org", now=NOW, name="إيمان")
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "hind")
        seen: list[str] = []
        url = "/editor/subscribers?q=ALI"
        pages = 0
        while url:
            reply = await client.get(url)
            assert reply.status_code == 200
            assert "OFFSET" not in reply.text
            seen += re.findall(r'<span dir="ltr">(ali\d+@example\.org)</span>', reply.text)
            nxt = re.search(r'href="([^"]+)" id="next-page"', reply.text)
            url = nxt.group(1).replace("&amp;", "&") if nxt else ""
            pages += 1
        assert pages == 3 and seen == sorted(seen) and len(seen) == len(set(seen)) == 130
        # names: Arabic marks and the hamza forms do not matter
        reply = await client.get("/editor/subscribers", params={"q": "علي"})
        assert len(re.findall(r'data-subscriber="', reply.text)) == 50
        reply = await client.get("/editor/subscribers", params={"q": "ايمان"})
        assert "zed@example.org" in reply.text and "ali000" not in reply.text
        reply = await client.get("/editor/subscribers", params={"q": "ali", "status": "paused", "list": "weekly"})
        found = re.findall(r'<span dir="ltr">(ali(\d+)@example\.org)</span>', reply.text)
        assert found and all(int(n) % 3 == 0 and int(n) % 5 == 0 for _, n in found)
        assert len(found) == len([i for i in range(130) if i % 15 == 0])
        # the list without a query: newest first, a later page by id
        first = await client.get("/editor/subscribers")
        ids = [int(i) for i in re.findall(r'data-subscriber="(\d+)"', first.text)]
        assert ids == sorted(ids, reverse=True) and len(ids) == 50
        later = await client.get("/editor/subscribers", params={"after": str(ids[-1])})
        later_ids = [int(i) for i in re.findall(r'data-subscriber="(\d+)"', later.text)]
        assert later_ids[0] == ids[-1] - 1
        bad = await client.get("/editor/subscribers", params={"status": "nope"})
        assert bad.status_code == 400 and "حالة غير معروفة" in bad.text
        bad = await client.get("/editor/subscribers", params={"q": "ali", "after": "x:y"})
        assert bad.status_code == 400


CSV = ("email,name,lists,sections\r\n"
       "one@example.org,واحد,daily,\r\n"
       "bad address,اثنان,daily,\r\n"
       "three@example.org,ثلاثة,nosuchlist,\r\n"
       "one@example.org,مكرر,daily,\r\n"
       "reader@example.org,,daily,\r\n"
       "four@example.org,,daily|weekly,\r\n"
       "gone@example.org,,daily,\r\n")


async def test_a_csv_import_runs_as_a_job_with_a_per_line_report(
    people: Subscriber, live_app: str, service: Service
) -> None:
    async with service.db.transaction() as session:
        await suppression.suppress(session, "gone@example.org", "complaint")
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "hind")
        token = await page_csrf(client, "/editor/subscribers/import")
        empty = await client.post("/editor/subscribers/import", data={"csrf": token},
                                  files={"file": ("empty.csv", b"", "text/csv")})
        assert empty.status_code == 400 and "الملف فارغ" in empty.text
        reply = await client.post("/editor/subscribers/import", data={"csrf": token, "confirmed": "1"},
                                  files={"file": ("قائمة.csv", CSV.encode(), "text/csv")})
        assert reply.status_code == 303
        job_url = reply.headers["location"]
        job_id = int(job_url.rsplit("/", 1)[1])
        await live_imports(service, client, job_url)
        page = await client.get(job_url)
        assert 'data-status="done"' in page.text and 'http-equiv="refresh"' not in page.text
        rows = re.findall(r'<tr data-line="(\d+)"><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>', page.text)
        assert [(int(n), f) for n, f, _ in rows] == [(3, "البريد الإلكتروني"), (4, "النشرات"),
                                                     (5, "البريد الإلكتروني"), (8, "البريد الإلكتروني")]
        messages = {int(n): m for n, _, m in rows}
        assert "مكرر" in messages[5] and "السطر 2" in messages[5] and "محظور" in messages[8]
        assert all(re.search("[\u0600-\u06ff]", m) for m in messages.values())
    async with service.db.transaction() as session:
        job = await session.get(ImportJob, job_id)
        assert (job.status, job.total, job.processed, job.added, job.existing, job.suppressed, job.bad) == (
            "done", 4, 4, 2, 1, 1, 3)
        four = await store.by_email(session, "four@example.org")
        assert four is not None and four.status == "confirmed" and four.source == "import-confirmed"
        assert (await store.lists_of(session, [four.id]))[four.id] == {"daily", "weekly"}
        assert (await session.scalars(select(AuditEntry.action))).all() == ["import"]


async def live_imports(service: Service, client: httpx.AsyncClient, job_url: str) -> None:
    """Follow the progress page as a browser would until the job is over."""
    import asyncio
    for _ in range(200):
        page = await client.get(job_url)
        if 'data-status="done"' in page.text or 'data-status="failed"' in page.text:
            return
        assert '<meta http-equiv="refresh" content="2">' in page.text
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_the_export_streams_every_subscriber_as_csv(people: Subscriber, live_app: str, service: Service) -> None:
    async with service.db.transaction() as session:
        for i in range(1200):
            await store.add(session, f"r{i}@example.org", now=NOW, status="pending" if i % 2 else "confirmed",
                            name="=cmd()" if i == 7 else None)
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "hind")
        reply = await client.get("/editor/subscribers/export.csv")
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
        assert "attachment" in reply.headers["content-disposition"]
        assert reply.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["email", "name", "status"] and len(rows) == 1 + 1201
        assert rows[1 + 1 + 7][:2] == ["r7@example.org", "'=cmd()"]  # formula guard
        pending = await client.get("/editor/subscribers/export.csv", params={"status": "pending"})
        assert len(list(csv.reader(io.StringIO(pending.content.decode("utf-8-sig"))))) == 1 + 600


async def test_the_settings_view_hides_every_secret(
    people: Subscriber, service: Service, clock: Clock, make_settings: object
) -> None:
    from tests.conftest import serve
    settings = service.settings.model_copy(update={"smtp_url": "smtp://user:hunter2-password@relay.example.org:587"})
    svc = await Service(settings, clock=clock).start()
    try:
        async with serve(svc) as url, httpx.AsyncClient(base_url=url) as client:
            await sign_in(client, "hind")
            reply = await client.get("/editor/settings")
            assert reply.status_code == 200
            assert SECRET not in reply.text and "hunter2-password" not in reply.text
            assert "smtp://user:••••@relay.example.org:587" in reply.text
            row = re.search(r'<tr data-name="MAILER_SECRET_KEY" data-hidden="1"><td dir="ltr">MAILER_SECRET_KEY</td>'
                            r'<td dir="ltr">([^<]*)</td>', reply.text)
            assert row and row.group(1) == "••••"
            assert 'data-name="MAILER_TIMEZONE"' in reply.text and "Asia/Baghdad" in reply.text
    finally:
        await svc.close()


async def test_an_unconfirmed_import_mails_each_new_address_a_confirmation_link(
    people: Subscriber, live_app: str, service: Service, smtp_server: SMTPServer
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "hind")
        token = await page_csrf(client, "/editor/subscribers/import")
        data = b"email\r\nfirst@example.org\r\nsecond@example.org\r\n"
        reply = await client.post("/editor/subscribers/import", data={"csrf": token},
                                  files={"file": ("list.csv", data, "text/csv")})
        await live_imports(service, client, reply.headers["location"])
    await service.sender.drain()
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["first@example.org", "second@example.org"]
    async with service.db.transaction() as session:
        first = await store.by_email(session, "first@example.org")
        assert first is not None and (first.status, first.source) == ("pending", "import")


async def test_an_import_that_fails_half_way_keeps_the_chunks_done_and_says_so(
    people: Subscriber, live_app: str, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailer.editor import console
    from subscribers import importer

    real = importer.apply
    calls = 0

    async def second_chunk_fails(*args: object, **kwargs: object) -> importer.Applied:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the database went away")  # a fault, injected
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(console, "CHUNK", 2)
    monkeypatch.setattr(importer, "apply", second_chunk_fails)
    data = "email\n" + "".join(f"n{i}@example.org\n" for i in range(5))
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client, "hind")
        token = await page_csrf(client, "/editor/subscribers/import")
        reply = await client.post("/editor/subscribers/import", data={"csrf": token, "confirmed": "1"},
                                  files={"file": ("list.csv", data.encode(), "text/csv")})
        await live_imports(service, client, reply.headers["location"])
        page = await client.get(reply.headers["location"])
        assert 'data-status="failed"' in page.text and "توقف الاستيراد بخطأ" in page.text
    async with service.db.transaction() as session:
        job = (await session.scalars(select(ImportJob))).one()
        assert (job.status, job.processed, job.added) == ("failed", 2, 2)
        assert await session.scalar(select(func.count()).select_from(Subscriber)
                                    .where(Subscriber.email.like("n%@example.org"))) == 2


async def test_a_long_report_shows_its_first_rows_and_downloads_whole(
    people: Subscriber, live_app: str, service: Service
) -> None:
    """The page of an import with thousands of bad rows shows the first 100 and the count; the
    CSV has every one, in the file's order, with the formula guard; editors who are not admins
    get neither."""
    from mailer.editor import console as console_logic
    from mailer.editor.console import SHOWN_PROBLEMS

    async with service.db.transaction() as session:
        await suppression.suppress(session, "gone@example.org", "complaint")
    lines = ["email,name,lists,sections", "=cmd()@x,,daily,"]
    lines += [f"r{i}@example.org,,nosuchlist," if i % 50 else f"ok{i}@example.org,,daily," for i in range(150)]
    lines.append("gone@example.org,,daily,")
    async with httpx.AsyncClient(base_url=live_app) as client, httpx.AsyncClient(base_url=live_app) as sara:
        await sign_in(client, "hind")
        token = await page_csrf(client, "/editor/subscribers/import")
        reply = await client.post("/editor/subscribers/import", data={"csrf": token, "confirmed": "1"},
                                  files={"file": ("big.csv", "\n".join(lines).encode(), "text/csv")})
        job_url = reply.headers["location"]
        await live_imports(service, client, job_url)
        page = await client.get(job_url)
        shown = [int(n) for n in re.findall(r'<tr data-line="(\d+)">', page.text)]
        expected = [2] + [i + 3 for i in range(150) if i % 50] + [153]  # the bad address, 147 lists, suppressed
        assert shown == expected[:SHOWN_PROBLEMS]
        assert "عدد الأسطر المرفوضة والمحظورة 149، يُعرض هنا أول 100 منها" in page.text
        assert 'href="/editor/subscribers/import/1/problems.csv"' in page.text
        download = await client.get(job_url + "/problems.csv")
        assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert rows[0] == ["السطر", "الحقل", "السبب"] and [int(r[0]) for r in rows[1:]] == expected
        guarded = console_logic.problems_csv(json.dumps([{"line": 2, "field": "=x", "message": "+cmd|' /C calc'!A0"}]))
        assert guarded.decode("utf-8-sig").splitlines()[1] == "2,'=x,'+cmd|' /C calc'!A0"
        assert "محظور" in rows[-1][2]
        await sign_in(sara, "sara")
        assert (await sara.get(job_url + "/problems.csv")).status_code == 403
        assert (await client.get("/editor/subscribers/import/99/problems.csv")).status_code == 404


async def test_admins_give_and_take_the_admin_role_but_never_from_the_last_admin(
    people: Subscriber, live_app: str, service: Service
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as hind, httpx.AsyncClient(base_url=live_app) as sara:
        await sign_in(hind, "hind")
        await sign_in(sara, "sara")
        assert (await sara.get("/editor/subscribers")).status_code == 403
        token = await page_csrf(hind, "/editor/editors")
        page = await hind.get("/editor/editors")
        assert 'data-editor="sara" data-role="editor"' in page.text and 'data-editor="hind" data-role="admin"' in page.text
        reply = await hind.post("/editor/editors/sara/role", data={"csrf": token, "role": "admin"})
        assert reply.status_code == 303
        assert (await sara.get("/editor/subscribers")).status_code == 200  # her live session sees it at once
        reply = await hind.post("/editor/editors/hind/role", data={"csrf": token, "role": "editor"})
        assert reply.status_code == 303 and reply.headers["location"] == "/editor/editors"
        # hind is no admin any more; sara, the last one, cannot step down
        assert (await hind.get("/editor/editors")).status_code == 403
        sara_token = await page_csrf(sara, "/editor/editors")
        reply = await sara.post("/editor/editors/sara/role", data={"csrf": sara_token, "role": "editor"})
        assert reply.status_code == 303 and reply.headers["location"].endswith("error=last-admin")
        page = await sara.get(reply.headers["location"])
        assert "آخر مشرف" in page.text
        bad = await sara.post("/editor/editors/sara/role", data={"csrf": sara_token, "role": "root"})
        assert bad.status_code == 400
    async with service.db.transaction() as session:
        roles = {e.name: e.role for e, _ in await accounts.everyone(session, NOW)}
        details = (await session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "role")
                                         .order_by(AuditEntry.id))).all()
    assert roles == {"sara": "admin", "hind": "editor"}
    assert details == ["sara: مشرف", "hind: محرر"]
