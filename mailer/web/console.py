"""The console's people side (admins only): subscribers (search, filters, keyset pages), a
subscriber's file and the changes an admin may make (add, unsubscribe, suppress, forget), the
audit log, CSV import as a background job with its progress page, the CSV export, and the
settings view. Every change goes through a flow of ``subscribers.flows`` and is written to the
audit log in the same transaction. No script: the import's page refreshes itself with a meta tag."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core import arabic
from mailer.core.errors import Conflict, InvalidInput, MailerError, NotFound
from mailer.core.offload import off_loop
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.editor import accounts, console
from mailer.editor.accounts import SignedIn
from mailer.web.auth import Admin
from mailer.web.deps import objects_of, pages_of, service_of
from mailer.web.security import editor_page
from subscribers import audit, flows, search, store
from subscribers.addresses import check
from subscribers.models import STATUSES, Subscriber

router = APIRouter()  # mounted under /editor by mailer.web.editor

Short = Annotated[str, Form(max_length=320)]
REFRESH_SECONDS = 2
EMPTY_QUERY = {"q": "", "by": "", "status": "", "list": "", "section": ""}
DONE = {
    "added": "أُضيف المشترك.",
    "unsubscribed": "أُلغي اشتراكه وحُظر عنوانه من رسائل النشرات.",
    "suppressed": "حُظر العنوان: لن تصله أي رسالة بعد الآن.",
}


def when(moment: datetime | None, settings: Settings) -> str:
    """A moment in the site's time zone, in Arabic: "1 ديسمبر 2026، 07:00"."""
    if moment is None:
        return "—"
    local = moment.astimezone(settings.tz)
    day = arabic.gregorian_date(local.date(), locale=settings.date_locale, style=settings.digits)
    return f"{day}، {arabic.digits(local.strftime('%H:%M'), settings.digits)}"


def _page(request: Request, name: str, who: Admin, *, title: str, status_code: int = 200,
          **context: Any) -> HTMLResponse:
    settings = service_of(request).settings
    return editor_page(pages_of(request), name, title=title, editor=who, csrf=who.csrf_token,
                       status_code=status_code, when=lambda m: when(m, settings), **context)


def _choices(settings: Settings, sections: dict[int, str]) -> dict[str, Any]:
    return {"statuses": [(s, console.STATUS_LABELS[s]) for s in STATUSES if s != "forgotten"],
            "lists": [(k, v.name) for k, v in settings.lists.items()],
            "sections": sorted(sections.items(), key=lambda item: item[1])}


def _checked_query(q: str, by: str, status: str, list_name: str, section: str, after: str,
                   settings: Settings) -> search.Query:
    q = q.strip()
    by = by if by in search.BY else search.guess_by(q)
    if status and status not in STATUSES:
        raise InvalidInput("status", f"{status!r} is not a status", public_message="حالة غير معروفة.")
    if list_name and list_name not in settings.lists:
        raise InvalidInput("list", f"{list_name!r} is not a list", public_message="نشرة غير معروفة.")
    section_id = None
    if section:
        if not (section.isascii() and section.isdigit()):
            raise InvalidInput("section", "not a section id", public_message="قسم غير معروف.")
        section_id = int(section)
    return search.Query(q=q, by=by, status=status or None, list_name=list_name or None, section_id=section_id,
                        after=after or None)


@router.get("/subscribers", response_class=HTMLResponse)
async def subscribers_page(
    request: Request,
    who: Admin,
    q: Annotated[str, Query(max_length=200)] = "",
    by: Annotated[str, Query(max_length=10)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    list_: Annotated[str, Query(alias="list", max_length=32)] = "",
    section: Annotated[str, Query(max_length=12)] = "",
    after: Annotated[str, Query(max_length=260)] = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    svc = service_of(request)
    settings = svc.settings
    query = _checked_query(q, by, status, list_, section, after, settings)
    async with svc.db.transaction() as session:
        found = await search.find(session, query)
        subs = {s.id: s for s in await session.scalars(select(Subscriber).where(Subscriber.id.in_(found.ids)))}
        taken = await store.lists_of(session, found.ids)
        sections = await store.section_names(session)
    rows = [{"sub": subs[i], "status": console.STATUS_LABELS.get(subs[i].status, subs[i].status),
             "lists": "، ".join(settings.lists[k].name for k in sorted(taken.get(i, ())) if k in settings.lists)}
            for i in found.ids if i in subs]
    base = {"q": query.q, "by": by if by in search.BY else "", "status": status, "list": list_, "section": section}
    kept = {k: v for k, v in {**base, "by": query.by if query.q else ""}.items() if v}
    next_url = f"/editor/subscribers?{urlencode({**kept, 'after': found.next})}" if found.next else None
    return _page(request, "subscribers", who, title="المشتركون", rows=rows, query=base, next_url=next_url,
                 first_url=f"/editor/subscribers?{urlencode(kept)}" if after else None,
                 done=DONE.get(done), error=None, form={}, **_choices(settings, sections))


@router.post("/subscribers")
async def add_subscriber(
    request: Request,
    who: Admin,
    email: Short = "",
    name: Annotated[str, Form(max_length=400)] = "",
    lists: Annotated[list[str] | None, Form()] = None,
    confirmed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    svc = service_of(request)
    settings = svc.settings
    now = svc.clock()
    try:
        address = check(email, smtputf8=settings.relay_smtputf8)
        chosen = store.check_lists(settings.lists, lists or [], field="lists")
        if not chosen:
            raise InvalidInput("lists", "choose at least one list", public_message=store.CHOOSE_A_LIST)
        req = flows.Request(address=address, name=store.check_name(name), lists=chosen, source="operator")
        async with svc.db.transaction() as session:
            sub = await flows.add_by_operator(session, settings, req, confirmed=bool(confirmed), now=now,
                                              notify=objects_of(request).notifier)
            names = "، ".join(settings.lists[k].name for k in chosen)
            await audit.record(session, actor=who.name, action="add", subscriber_id=sub.id, now=now,
                               detail=f"الحالة: {console.STATUS_LABELS[sub.status]}؛ النشرات: {names}")
            sub_id = sub.id
    except MailerError as exc:
        async with svc.db.transaction() as session:
            sections = await store.section_names(session)
        code = 400 if isinstance(exc, InvalidInput) else 409
        return _page(request, "subscribers", who, title="المشتركون", status_code=code, rows=[], query=EMPTY_QUERY,
                     next_url=None, first_url=None, done=None, error=exc.public_message,
                     form={"email": email, "name": name, "lists": lists or []}, **_choices(settings, sections))
    svc.woken()
    return RedirectResponse(f"/editor/subscribers/{sub_id}?done=added", status_code=303)


# import and export (before /subscribers/{id}) ---------------------------------------------------


@router.get("/subscribers/import", response_class=HTMLResponse)
async def import_form(request: Request, who: Admin) -> HTMLResponse:
    jobs = await console.recent_jobs(service_of(request).db)
    return _page(request, "import", who, title="استيراد مشتركين", jobs=jobs, job_status=console.JOB_STATUS,
                 error=None)


@router.post("/subscribers/import")
async def start_import(
    request: Request,
    who: Admin,
    file: UploadFile,
    confirmed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    data = await file.read()
    try:
        job_id = await objects_of(request).imports.start(data, filename=file.filename or "", confirmed=bool(confirmed),
                                                         actor=who.name)
    except InvalidInput as exc:
        jobs = await console.recent_jobs(service_of(request).db)
        return _page(request, "import", who, title="استيراد مشتركين", jobs=jobs, job_status=console.JOB_STATUS,
                     error=exc.public_message, status_code=400)
    return RedirectResponse(f"/editor/subscribers/import/{job_id}", status_code=303)


@router.get("/subscribers/import/{job_id}", response_class=HTMLResponse)
async def import_progress(request: Request, job_id: int, who: Admin) -> HTMLResponse:
    found = await console.job(service_of(request).db, job_id)
    running = found.status in ("queued", "running")
    percent = int(100 * found.processed / found.total) if found.total else (0 if running else 100)
    problems = await off_loop(json.loads, found.problems or "[]")  # megabytes, for a big file's report
    return _page(request, "import_job", who, title=f"استيراد رقم {job_id}", job=found, running=running,
                 refresh=REFRESH_SECONDS if running else None, percent=percent,
                 status_label=console.JOB_STATUS.get(found.status, found.status),
                 problems=problems[:console.SHOWN_PROBLEMS], problems_total=len(problems))


@router.get("/subscribers/import/{job_id}/problems.csv")
async def import_problems(request: Request, job_id: int, who: Admin) -> Response:
    """Every row of an import's report, which its page shows only the first of."""
    found = await console.job(service_of(request).db, job_id)
    return Response(await off_loop(console.problems_csv, found.problems), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job_id}-problems.csv"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/subscribers/export.csv")
async def export(request: Request, who: Admin, status: Annotated[str, Query(max_length=16)] = "") -> Response:
    if status and status not in STATUSES:
        raise InvalidInput("status", f"{status!r} is not a status", public_message="حالة غير معروفة.")
    svc = service_of(request)
    stamp = svc.clock().astimezone(svc.settings.tz).strftime("%Y-%m-%d")
    return StreamingResponse(
        console.export_csv(svc.db, status=status or None), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="subscribers-{stamp}.csv"',
                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


# one subscriber -------------------------------------------------------------------------------------


@router.get("/subscribers/{subscriber_id}", response_class=HTMLResponse)
async def subscriber_page(request: Request, subscriber_id: int, who: Admin,
                          done: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
    svc = service_of(request)
    file = await console.subscriber_file(svc.db, svc.settings, subscriber_id)
    return _page(request, "subscriber", who, title=f"المشترك رقم {subscriber_id}", file=file, sub=file.sub,
                 source=console.SOURCES.get(file.sub.source or "", file.sub.source or "—"),
                 status_label=console.STATUS_LABELS.get(file.sub.status, file.sub.status),
                 suppressed=console.SUPPRESSION_LABELS.get(file.suppressed or "", file.suppressed),
                 actions=audit.ACTIONS, done=DONE.get(done))


@router.post("/subscribers/{subscriber_id}/unsubscribe")
async def unsubscribe(request: Request, subscriber_id: int, who: Admin) -> Response:
    return await _act(request, subscriber_id, who, flows.unsubscribe, "unsubscribe", "unsubscribed")


@router.post("/subscribers/{subscriber_id}/suppress")
async def suppress(request: Request, subscriber_id: int, who: Admin) -> Response:
    return await _act(request, subscriber_id, who, flows.suppress_by_operator, "suppress", "suppressed",
                      more="؛ حُظر العنوان")


async def _act(request: Request, subscriber_id: int, who: SignedIn,
               flow: Callable[[AsyncSession, int, datetime], Awaitable[object]], action: str, done: str,
               *, more: str = "") -> Response:
    """A flow on one subscriber, with its audit entry (the status change) in the same transaction."""
    svc = service_of(request)
    now = svc.clock()
    async with svc.db.transaction() as session:
        sub = await _subscriber(session, subscriber_id)
        before = sub.status
        await flow(session, subscriber_id, now)
        await audit.record(session, actor=who.name, action=action, subscriber_id=subscriber_id, now=now,
                           detail=console.status_change(before, sub.status) + more)
    return RedirectResponse(f"/editor/subscribers/{subscriber_id}?done={done}", status_code=303)


@router.get("/subscribers/{subscriber_id}/forget", response_class=HTMLResponse)
async def forget_confirm(request: Request, subscriber_id: int, who: Admin) -> HTMLResponse:
    svc = service_of(request)
    async with svc.db.transaction() as session:
        sub = await _subscriber(session, subscriber_id)
    return _page(request, "forget", who, title="محو بيانات مشترك", sub=sub)


@router.post("/subscribers/{subscriber_id}/forget")
async def forget(request: Request, subscriber_id: int, who: Admin,
                 confirm: Annotated[str, Form(max_length=20)] = "") -> Response:
    """Only from the confirmation page: the form there carries ``confirm=erase``."""
    if confirm != "erase":
        return RedirectResponse(f"/editor/subscribers/{subscriber_id}/forget", status_code=303)
    svc = service_of(request)
    now = svc.clock()
    async with svc.db.transaction() as session:
        sub = await _subscriber(session, subscriber_id)
        forgotten = await flows.forget(session, sub.email, erase=outbox.erase)
        await audit.record(session, actor=who.name, action="forget", subscriber_id=subscriber_id, now=now,
                           detail=f"مُحيت بياناته، وأُزيل عنوانه من {forgotten.erased} رسالة محفوظة، "
                                  "وبقيت بصمة العنوان في قائمة الحظر")
    return RedirectResponse(f"/editor/audit?forgotten={subscriber_id}", status_code=303)


async def _subscriber(session: AsyncSession, subscriber_id: int) -> Subscriber:
    sub = await session.get(Subscriber, subscriber_id)
    if sub is None:
        raise NotFound(f"no subscriber with id {subscriber_id}", public_message="لا يوجد مشترك بهذا الرقم.")
    return sub


# editors ---------------------------------------------------------------------------------------------


ROLE_LABELS = {"editor": "محرر", "admin": "مشرف"}


@router.get("/editors", response_class=HTMLResponse)
async def editors_page(request: Request, who: Admin, error: str = "") -> HTMLResponse:
    svc = service_of(request)
    async with svc.db.transaction() as session:
        people = await accounts.everyone(session, svc.clock())
    return _page(request, "editors", who, title="المحررون", people=people, roles=ROLE_LABELS,
                 error=accounts.LAST_ADMIN if error == "last-admin" else None)


@router.post("/editors/{name}/role")
async def change_role(request: Request, name: str, who: Admin,
                      role: Annotated[str, Form(max_length=16)] = "") -> Response:
    """Give or take the admin role; an editor's live sessions see it on their next page."""
    svc = service_of(request)
    try:
        async with svc.db.transaction() as session:
            editor = await accounts.set_role(session, name, accounts.check_role(role))
            await audit.record(session, actor=who.name, action="role", subscriber_id=None, now=svc.clock(),
                               detail=f"{editor.name}: {ROLE_LABELS[role]}")
    except Conflict:
        return RedirectResponse("/editor/editors?error=last-admin", status_code=303)
    return RedirectResponse("/editor/editors", status_code=303)


# audit and settings ---------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request, who: Admin, before: int | None = None,
                     forgotten: int | None = None) -> HTMLResponse:
    async with service_of(request).db.transaction() as session:
        entries = await audit.entries(session, before=before, limit=100)
    next_url = f"/editor/audit?before={entries[-1].id}" if len(entries) == 100 else None
    return _page(request, "audit", who, title="سجل التغييرات", entries=entries, actions=audit.ACTIONS,
                 next_url=next_url, forgotten=forgotten)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, who: Admin) -> HTMLResponse:
    return _page(request, "settings", who, title="الإعدادات", rows=console.setting_rows(service_of(request).settings))
