"""Editor access over real HTTP: hardened session cookies, CSRF on every form, every editor page
refused to strangers, sessions ended by logout and by a password change, strict CSP headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from mailer.core.headers import Identity
from mailer.core.models import Edition, EditionArticle, OutboxMessage
from mailer.delivery.service import Service
from mailer.editions import curation
from mailer.editor.previews import PreviewContext, Previews, TripletInput, TripletKind, default_kinds
from mailer.web import editor
from mailer.web.app import create_app
from tests.conftest import Clock, serve
from tests.support import factories

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = factories.EDITOR_PASSWORD
BEFORE = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    out = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            out[name] = cookie
    return out


async def sign_in(client: httpx.AsyncClient, name: str = "sara", password: str = PASSWORD, **headers: str) -> httpx.Response:
    form = await client.get("/editor/login")
    token = CSRF.search(form.text).group(1)
    return await client.post("/editor/login", data={"name": name, "password": password, "csrf": token},
                             headers=headers)


async def page_csrf(client: httpx.AsyncClient, path: str = "/editor") -> str:
    reply = await client.get(path)
    assert reply.status_code == 200, reply.text[:300]
    return CSRF.search(reply.text).group(1)


@pytest.fixture
async def seeded(service: Service, clock: Clock) -> Edition:
    clock.now = BEFORE
    await factories.ingest_items(service, 3, clock.now)
    await factories.subscriber(service, "reader@example.org")
    await factories.editor(service)
    async with service.db.transaction() as session:
        return await curation.open_upcoming(session, service.settings, "daily", clock.now)


async def test_login_gives_an_httponly_samesite_cookie_secure_behind_https(
    seeded: Edition, live_app: str, service: Service, clock: Clock
) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        reply = await sign_in(client)
        assert reply.status_code == 303 and reply.headers["location"] == "/editor"
        session = set_cookies(reply)["mailer_editor"]["mailer_editor"]
        assert session["httponly"] and session["samesite"].lower() == "strict" and session["path"] == "/editor"
        assert not session["secure"]  # plain http on loopback: a Secure cookie would never come back
        home = await client.get("/editor")
        assert home.status_code == 200 and '<html dir="rtl" lang="ar">' in home.text
    async with httpx.AsyncClient(base_url=live_app) as client:
        reply = await sign_in(client, Host="news.example.com")
        assert reply.status_code == 303 and set_cookies(reply)["mailer_editor"]["mailer_editor"]["secure"]
        spoofed = await sign_in(client, **{"X-Forwarded-Proto": "https"})  # no trusted proxy: not believed
        assert spoofed.status_code == 303 and not set_cookies(spoofed)["mailer_editor"]["mailer_editor"]["secure"]
    # behind a TLS proxy named in MAILER_TRUSTED_PROXIES, its X-Forwarded-Proto counts
    proxied = await Service(service.settings.model_copy(update={"trusted_proxies": ("127.0.0.1",)}),
                            clock=clock).start()
    try:
        async with serve(proxied) as url, httpx.AsyncClient(base_url=url) as client:
            reply = await sign_in(client, **{"X-Forwarded-Proto": "https"})
            assert reply.status_code == 303 and set_cookies(reply)["mailer_editor"]["mailer_editor"]["secure"]
    finally:
        await proxied.close()


async def test_wrong_password_or_name_gives_no_session(seeded: Edition, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        for name, password in (("sara", PASSWORD + "x"), ("nobody", PASSWORD)):
            reply = await sign_in(client, name, password)
            assert reply.status_code == 401 and "غير صحيحة" in reply.text
            assert "mailer_editor" not in set_cookies(reply)
        assert (await client.get("/editor")).status_code == 303


async def test_the_login_form_needs_its_csrf_token(seeded: Edition, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        data = {"name": "sara", "password": PASSWORD}
        assert (await client.post("/editor/login", data=data)).status_code == 403  # no form, no cookie
        await client.get("/editor/login")
        assert (await client.post("/editor/login", data={**data, "csrf": "forged"})).status_code == 403
        async with httpx.AsyncClient(base_url=live_app) as other:  # another browser's signed token
            others = CSRF.search((await other.get("/editor/login")).text).group(1)
        assert (await client.post("/editor/login", data={**data, "csrf": others})).status_code == 403
        assert (await client.get("/editor")).status_code == 303
    # a login cookie the service could not have set is replaced, never signed
    async with httpx.AsyncClient(base_url=live_app, cookies={"mailer_login": "x|y"}) as client:
        form = await client.get("/editor/login")
        fresh = set_cookies(form)["mailer_login"]["mailer_login"].value
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", fresh)
        assert CSRF.search(form.text).group(1).startswith(f"{fresh}.")


def editor_routes(service: Service) -> list[tuple[str, str]]:
    """(method, path) of every editor route, path parameters filled in."""
    values = {"kind": "digest", "edition_id": "1", "article_id": "1", "action": "hold", "subscriber_id": "1",
              "job_id": "1", "name": "sara"}
    found = []  # (the API docs pages, on only with MAILER_API_DOCS, are tested with it on)
    probe = FastAPI()  # the app's own schema leaves the editor pages out: describe them apart
    probe.include_router(editor.router)
    for path, operations in probe.openapi()["paths"].items():
        if path == "/editor/login":
            continue
        for method in sorted(operations):
            found.append((method.upper(), re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)))
    return found


async def test_every_editor_page_is_refused_without_a_session(
    service: Service, seeded: Edition, live_app: str
) -> None:
    routes = editor_routes(service)
    assert len(routes) >= 10 and ("POST", "/editor/preview/digest/test") in routes
    for cookie in ({}, {"mailer_editor": "forged-session-token"}):
        async with httpx.AsyncClient(base_url=live_app, cookies=cookie) as client:
            for method, path in routes:
                reply = await client.request(method, path, params={"ref": "daily"}, data={} if method == "POST" else None)
                if method == "GET":
                    assert reply.status_code == 303, (method, path)
                    assert reply.headers["location"].startswith("/editor/login?next=")
                else:
                    assert reply.status_code == 401, (method, path)
                assert "عنوان الخبر" not in reply.text
    async with service.db.transaction() as session:
        assert (await session.get(Edition, seeded.id)).status == "draft"
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_every_form_needs_the_sessions_csrf_token(
    service: Service, seeded: Edition, live_app: str
) -> None:
    async with service.db.transaction() as session:
        article_id = (await session.scalars(
            select(EditionArticle.article_id).where(EditionArticle.edition_id == seeded.id))).first()
    await factories.editor(service, "omar", "omar@news.example.com")
    async with httpx.AsyncClient(base_url=live_app) as other:
        await sign_in(other, "omar")
        others_token = await page_csrf(other)
    posts = [path.replace("/1/", f"/{seeded.id}/", 1).replace("/articles/1/", f"/articles/{article_id}/")
             for method, path in editor_routes(service) if method == "POST"]
    posts = [p.replace("/editions/1/", f"/editions/{seeded.id}/") for p in posts]
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client)
        token = await page_csrf(client)
        for path in posts:
            for form in ({}, {"csrf": "forged"}, {"csrf": others_token}):
                reply = await client.post(path, data={"ref": "daily", **form})
                assert reply.status_code == 403, (path, form)
        assert (await client.get("/editor")).status_code == 200  # logout without the token did nothing
        async with service.db.transaction() as session:
            assert (await session.get(Edition, seeded.id, populate_existing=True)).status == "draft"
            assert not any((await session.scalars(select(EditionArticle.excluded))).all())
            assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        reply = await client.post(f"/editor/editions/{seeded.id}/hold", data={"csrf": token})
        assert reply.status_code == 303
    async with service.db.transaction() as session:
        assert (await session.get(Edition, seeded.id, populate_existing=True)).status == "held"


async def test_a_new_password_ends_the_other_sessions(seeded: Edition, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as laptop, httpx.AsyncClient(base_url=live_app) as phone:
        await sign_in(laptop)
        await sign_in(phone)
        old_laptop_cookie = laptop.cookies["mailer_editor"]
        token = await page_csrf(laptop, "/editor/password")
        short = await laptop.post("/editor/password", data={"csrf": token, "current": PASSWORD,
                                                            "new": "short", "repeat": "short"})
        assert short.status_code == 400 and "10" in short.text
        reply = await laptop.post("/editor/password", data={
            "csrf": token, "current": PASSWORD, "new": "a brand new passphrase", "repeat": "a brand new passphrase"})
        assert reply.status_code == 303
        assert (await laptop.get("/editor")).status_code == 200  # this browser got a new session
        assert (await phone.get("/editor")).status_code == 303  # the other one is signed out
    async with httpx.AsyncClient(base_url=live_app, cookies={"mailer_editor": old_laptop_cookie}) as replay:
        assert (await replay.get("/editor")).status_code == 303
    async with httpx.AsyncClient(base_url=live_app) as client:
        assert (await sign_in(client)).status_code == 401
        assert (await sign_in(client, password="a brand new passphrase")).status_code == 303


async def test_logout_ends_the_session(seeded: Edition, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client)
        cookie = client.cookies["mailer_editor"]
        reply = await client.post("/editor/logout", data={"csrf": await page_csrf(client)})
        assert reply.status_code == 303
    async with httpx.AsyncClient(base_url=live_app, cookies={"mailer_editor": cookie}) as replay:
        assert (await replay.get("/editor")).status_code == 303


async def test_pages_and_frames_carry_a_strict_csp(seeded: Edition, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        await sign_in(client)
        page = await client.get("/editor/preview/digest", params={"ref": "daily"})
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
        frames = re.findall(r"<iframe [^>]*>", page.text)
        assert len(frames) == 2 and all(' sandbox="" ' in f for f in frames)
        assert "allow-scripts" not in page.text and "allow-same-origin" not in page.text
        frame = await client.get("/editor/preview/digest/frame", params={"ref": "daily"})
        frame_csp = frame.headers["content-security-policy"]
        assert frame_csp.endswith("sandbox") and "default-src 'none'" in frame_csp and "script" not in frame_csp
        assert '<html dir="rtl" lang="ar">' in frame.text
        eml = await client.get("/editor/preview/digest/eml", params={"ref": "daily"})
        assert eml.headers["content-type"] == "message/rfc822" and b"List-Unsubscribe:" in eml.content


async def test_redirects_stay_on_the_editor_pages(seeded: Edition, live_app: str) -> None:
    async with httpx.AsyncClient(base_url=live_app) as client:
        for target in ("https://evil.example/", "//evil.example/editor", "/editor/../api/editions", "/u/x"):
            form = await client.get("/editor/login", params={"next": target})
            token = CSRF.search(form.text).group(1)
            reply = await client.post("/editor/login", data={"name": "sara", "password": PASSWORD,
                                                             "csrf": token, "next": target})
            assert reply.headers["location"] == "/editor", target


async def test_a_plugged_in_kind_gets_the_whole_page(
    make_settings, database_url: str, smtp_server, clock: Clock, tmp_path
) -> None:
    email = tmp_path / "templates" / "email"
    email.mkdir(parents=True)
    (email / "welcome.subject.txt").write_text("أهلاً بك في {{ list.label }}\n")
    (email / "welcome.txt").write_text("أهلاً بك في {{ list.label }} من {{ site.name }}.\n")
    (email / "welcome.html").write_text('{% extends "email/base.html" %}{% block content %}<tr><td dir="rtl" '
                                        'align="right"><p>أهلاً بك في {{ list.label }}</p></td></tr>{% endblock %}')
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, templates_dir=tmp_path / "templates")
    service = await Service(settings, clock=clock).start()

    async def inputs(ctx: PreviewContext, ref: str) -> TripletInput:
        return TripletInput(title=f"رسالة الترحيب: {ref}", context={"preheader": "أهلاً"},
                            identity=Identity.for_list(ctx.settings, ref), list_name=ref)

    try:
        await factories.editor(service)
        app = create_app(service, previews=Previews(
            service.settings, service.renderer,
            kinds=[*default_kinds(), TripletKind("welcome", "رسالة الترحيب", inputs)]))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await sign_in(client)
            home = await client.get("/editor")
            assert 'action="/editor/preview/welcome"' in home.text
            assert 'action="/editor/preview/share"' in home.text and 'action="/editor/preview/confirm"' in home.text
            page = await client.get("/editor/preview/welcome", params={"ref": "weekly"})
            assert page.status_code == 200 and "أهلاً بك في النشرة الأسبوعية" in page.text
            assert 'data-check="unsubscribe" data-level="info"' in page.text
            frame = await client.get("/editor/preview/welcome/frame", params={"ref": "weekly"})
            assert "أهلاً بك في النشرة الأسبوعية" in frame.text
            token = CSRF.search(page.text).group(1)
            sent = await client.post("/editor/preview/welcome/test", data={"csrf": token, "ref": "weekly"})
            assert sent.status_code == 303 and "test=" in sent.headers["location"]
            assert await service.sender.drain() == {"sent": 1}
            assert smtp_server.received[0].message["Subject"] == "أهلاً بك في النشرة الأسبوعية"
            missing = await client.get("/editor/preview/share", params={"ref": "1"})
            assert missing.status_code == 404 and "لا يوجد خبر بهذا الرقم" in missing.text
            unknown = await client.get("/editor/preview/newsletter", params={"ref": "1"})
            assert unknown.status_code == 404 and "غير متاحة بعد" in unknown.text
    finally:
        await service.close()
