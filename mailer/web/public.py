"""Public endpoints that need no login: the one-click unsubscribe (RFC 8058) and health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from mailer.core.headers import Identity
from mailer.web.deps import pages_of, service_of
from subscribers import flows, tokens

router = APIRouter()

UNSUBSCRIBED = "تم إلغاء اشتراكك. لن تصلك منّا رسائل بعد الآن."


@router.get("/healthz", response_class=PlainTextResponse)
async def health() -> str:
    return "ok"


@router.get("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """A confirmation page only: link scanners follow GETs, so a GET changes nothing."""
    svc = service_of(request)
    link = tokens.check(svc.settings.keyring, "unsubscribe", token)
    async with svc.db.transaction() as session:
        await flows.holder(session, link)
    list_name = link.scope
    return pages_of(request).render(
        "unsubscribe", title="إلغاء الاشتراك", list_label=Identity.for_list(svc.settings, list_name).list_label
    )


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request) -> HTMLResponse:
    """RFC 8058 one-click: any body (urlencoded or multipart), no cookie, 200 and no redirect."""
    svc = service_of(request)
    link = tokens.check(svc.settings.keyring, "unsubscribe", token)
    async with svc.db.transaction() as session:
        sub = await flows.holder(session, link)
        await flows.unsubscribe(session, sub.id, svc.clock())
    return pages_of(request).message("إلغاء الاشتراك", UNSUBSCRIBED)
