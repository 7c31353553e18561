"""The editor pages: the next digest of each list, any past edition and any other previewable
e-mail, each shown as it will be sent (desktop and phone frames, text part, headers, checks),
with a test send to the editor and, for a digest that has not gone out, drop, reorder and hold.

Every route needs a signed-in editor (``auth.Editor``); every form carries the CSRF token.
Making a previewed message (MIME encoding a large digest) runs in a render thread, as the
rendering inside ``Previews.build`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from mailer.compose.message import to_bytes
from mailer.core.headers import Identity
from mailer.core.models import Article, Edition, OutboxMessage
from mailer.core.offload import off_loop
from mailer.delivery import outbox
from mailer.editions import curation
from mailer.editions.planning import PlanResult, period_key
from mailer.editor import labels
from mailer.editor.checks import part_text
from mailer.editor.previews import Preview, Previews
from mailer.web import auth, console, dashboard, deliverability
from mailer.web.auth import Editor
from mailer.web.deps import objects_of, pages_of, service_of
from mailer.web.security import editor_page, email_frame, harden, local_path

router = APIRouter(prefix="/editor")

DESKTOP_WIDTH = 640
PHONE_WIDTH = 375
TEST_STATUS = {
    "pending": "في طابور الإرسال",
    "sending": "يُرسل الآن",
    "sent": "سُلّمت إلى خادم البريد",
    "failed": "فشل الإرسال",
    "unknown": "لم يُعرف إن وصلت",
    "skipped": "لم تُرسل",
    "dead": "فشل الإرسال نهائياً",
}

Text = Annotated[str, Form(max_length=2000)]


def previews_of(request: Request) -> Previews:
    return objects_of(request).previews


def _options(variant: str, as_: str) -> dict[str, str]:
    return {k: v.strip() for k, v in (("variant", variant), ("as", as_)) if v and v.strip()}


@dataclass(frozen=True)
class Shown:
    """What the query of a preview URL names: the ref, and the variant or reader to show."""

    ref: str
    options: dict[str, str]


def shown_query(
    ref: Annotated[str, Query(max_length=200)] = "",
    variant: Annotated[str, Query(max_length=200)] = "",
    as_: Annotated[str, Query(alias="as", max_length=320)] = "",
) -> Shown:
    return Shown(ref, _options(variant, as_))


ShownQuery = Annotated[Shown, Depends(shown_query)]


async def _build(request: Request, kind: str, ref: str, options: dict[str, str]) -> Preview:
    svc = service_of(request)
    previews = previews_of(request)
    return await previews.build(svc.db, kind, ref or previews.default_ref(kind), options, svc.clock())


def _query(preview: Preview, options: dict[str, str], **extra: Any) -> str:
    return urlencode({"ref": preview.ref, **options, **extra})


ALERTED = {
    "sending": "أُرسل التنبيه العاجل الآن إلى مشتركي نشرات الأخبار العاجلة.",
    "held": "أُوقف التنبيه بانتظار قرار محرر: بلغت النشرة حدّها اليومي أو الخبر قديم. تجده في الأعداد الموقوفة.",
    "none": "لم يُرسل تنبيه: لا تشمل أي نشرة للأخبار العاجلة قسمَ هذا الخبر.",
}


@router.get("", response_class=HTMLResponse)
async def home(request: Request, who: Editor, changed: int = 0, alerted: str = "") -> HTMLResponse:
    svc = service_of(request)
    settings = svc.settings
    now = svc.clock()
    upcoming = []
    async with svc.db.transaction() as session:
        for list_name in settings.scheduled_lists:
            fire = curation.upcoming_fire(settings, list_name, now)
            status = await session.scalar(
                select(Edition.status).where(Edition.list_name == list_name,
                                             Edition.period_key == period_key(fire, settings))
            )
            upcoming.append({
                "list": list_name, "label": settings.lists[list_name].name,
                "when": f"{labels.moment(fire, settings)} ({labels.zone_name(settings)})",
                "status": labels.status(status) if status else "لم يُحضَّر بعد",
            })
        recent = list(await session.scalars(select(Edition).order_by(Edition.id.desc()).limit(30)))
        counts = await outbox.counts(session, [e.id for e in recent])
        articles = list(await session.scalars(
            select(Article).order_by(Article.published_at.desc(), Article.id.desc()).limit(15)
        ))
    registry = previews_of(request).registry
    others = [
        {"name": name, "label": kind.label, "ref_label": kind.ref_label}
        for name, kind in registry.items() if name not in ("digest", "edition", "alert")
    ]
    editions = [
        {"id": e.id, "list": Identity.for_list(settings, e.list_name).list_label,
         "period": labels.period_name(Identity.for_list(settings, e.list_name).list_label, e.kind, e.period_key,
                                      e.scheduled_at, settings),
         "status": e.status, "status_label": labels.status(e.status),
         "counts": outbox.shown_counts(counts.get(e.id, {})), "reason": labels.reason(e.status_reason, settings)}
        for e in recent
    ]
    return editor_page(
        pages_of(request), "home", title="معاينة الرسائل", editor=who, csrf=who.csrf_token,
        upcoming=upcoming, editions=editions, held=[e for e in editions if e["status"] == "held"],
        articles=articles, others=others, changed=bool(changed), alert_lists=settings.immediate_lists,
        alerted=ALERTED.get(alerted),
    )


async def _test_row(request: Request, row_id: int | None, email: str, url: str) -> dict[str, str] | None:
    if not row_id:
        return None
    async with service_of(request).db.transaction() as session:
        row = (await session.execute(
            select(OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.recipient).where(
                OutboxMessage.id == row_id, OutboxMessage.kind == "test", OutboxMessage.recipient == email)
        )).first()
    if row is None:
        return None
    return {"status": TEST_STATUS.get(row.status, row.status), "to": row.recipient, "url": url,
            "error": (row.last_error or "") if row.status not in ("pending", "sending", "sent") else ""}


@router.get("/preview/{kind}", response_class=HTMLResponse)
async def preview_page(
    request: Request,
    kind: str,
    who: Editor,
    shown: ShownQuery,
    test: int | None = None,
    alerted: str = "",
) -> HTMLResponse:
    previews = previews_of(request)
    options = shown.options
    preview = await _build(request, kind, shown.ref, options)
    msg = await off_loop(previews.shown, preview, to=who.email)
    html = part_text(msg, "html")
    query = _query(preview, options)
    return editor_page(
        pages_of(request), "preview", title=f"معاينة: {preview.title}", editor=who,
        csrf=who.csrf_token, preview=preview, options=options,
        headers=[(name, str(value)) for name, value in msg.items()],
        text=part_text(msg, "plain"), html_bytes=len(html.encode()),
        checks=await previews.checks(preview, msg),
        frame_url=f"/editor/preview/{kind}/frame?{query}", eml_url=f"/editor/preview/{kind}/eml?{query}",
        back=f"/editor/preview/{kind}?{query}", kind=kind,
        desktop_width=DESKTOP_WIDTH, phone_width=PHONE_WIDTH,
        test_row=await _test_row(request, test, who.email, f"/editor/preview/{kind}?{query}&test={test}"),
        alerted=ALERTED.get(alerted),
    )


@router.get("/preview/{kind}/frame", response_class=HTMLResponse)
async def preview_frame(
    request: Request,
    kind: str,
    who: Editor,
    shown: ShownQuery,
) -> HTMLResponse:
    """The e-mail's HTML part alone, for the sandboxed iframes of the preview page."""
    preview = await _build(request, kind, shown.ref, shown.options)
    msg = await off_loop(previews_of(request).shown, preview, to=who.email)
    return email_frame(part_text(msg, "html"))


@router.get("/preview/{kind}/eml")
async def preview_eml(
    request: Request,
    kind: str,
    who: Editor,
    shown: ShownQuery,
) -> Response:
    """The whole message as a file, to open in a mail client or pass on."""
    preview = await _build(request, kind, shown.ref, shown.options)
    previews = previews_of(request)
    data = await off_loop(lambda: to_bytes(previews.shown(preview, to=who.email)))
    name = re.sub(r"[^A-Za-z0-9._-]", "", f"preview-{kind}-{preview.ref}") + ".eml"
    response = Response(data, media_type="message/rfc822",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return harden(response, "default-src 'none'; sandbox", "DENY")


@router.post("/preview/{kind}/test")
async def test_send(
    request: Request,
    kind: str,
    who: Editor,
    ref: Text = "",
    variant: Text = "",
    as_: Annotated[str, Form(alias="as", max_length=320)] = "",
) -> Response:
    """Enqueue the exact message, marked as a test, for the editor's own address."""
    svc = service_of(request)
    options = _options(variant, as_)
    preview = await _build(request, kind, ref, options)
    now = svc.clock()
    data, message_id = await off_loop(previews_of(request).test_message, preview, to=who.email, editor=who.name,
                                      now=now)
    async with svc.db.transaction() as session:
        row_id = await outbox.enqueue(session, outbox.message_row(
            kind="test", recipient=who.email, payload=data, message_id=message_id, now=now,
        ))
    svc.woken()
    return RedirectResponse(f"/editor/preview/{kind}?{_query(preview, options, test=row_id)}", status_code=303)


@router.post("/articles/{article_id}/breaking")
async def mark_breaking(request: Request, article_id: int, who: Editor, back: Text = "") -> Response:
    """An editor's "breaking news" button: the alert goes to the immediate lists now (once per
    article, ever; over a list's daily cap it is held, to be sent from the held editions)."""
    results = await service_of(request).alert(article_id, editor=who.name)
    target = local_path(back, f"/editor/preview/alert?ref={article_id}")
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}{urlencode({'alerted': _outcome(results)})}", status_code=303)


def _outcome(results: list[PlanResult]) -> str:
    actions = {r.action for r in results}
    return "sending" if "sending" in actions else "held" if "held" in actions else "none"


@router.post("/editions/{edition_id}/articles/{article_id}/{action}")
async def change_article(
    request: Request,
    edition_id: int,
    article_id: int,
    action: Literal["exclude", "include", "up", "down"],
    who: Editor,
    back: Text = "",
) -> Response:
    svc = service_of(request)
    now = svc.clock()
    async with svc.db.transaction() as session:
        if action in ("exclude", "include"):
            await curation.set_excluded(session, svc.settings, edition_id, article_id,
                                        action == "exclude", who.name, now)
        else:
            await curation.move(session, edition_id, article_id, -1 if action == "up" else 1, who.name, now)
    return RedirectResponse(local_path(back, f"/editor/preview/edition?ref={edition_id}"), status_code=303)


@router.post("/editions/{edition_id}/{action}")
async def change_edition(
    request: Request,
    edition_id: int,
    action: Literal["hold", "resume", "send"],
    who: Editor,
    back: Text = "",
) -> Response:
    svc = service_of(request)
    now = svc.clock()
    async with svc.db.transaction() as session:
        if action == "hold":
            await curation.hold(session, edition_id, who.name, now)
        elif action == "resume":
            await curation.resume(session, edition_id, now)
        else:
            await curation.send_held(session, edition_id, now, enqueue=outbox.enqueue_edition)
    if action == "send":
        svc.woken()
    return RedirectResponse(local_path(back, f"/editor/preview/edition?ref={edition_id}"), status_code=303)


router.include_router(auth.router)
router.include_router(console.router)
router.include_router(dashboard.router)
router.include_router(deliverability.router)
