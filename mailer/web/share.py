"""The public share endpoints: the form page, ``POST /share`` (form or JSON) and the stop link."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from mailer.compose.render import ArticleView
from mailer.core.errors import InvalidInput, MailerError, NotFound
from mailer.shares.checks import FIELDS, GUID_MAX, HONEYPOT, URL_MAX
from mailer.shares.desk import ShareDesk
from mailer.shares.tokens import check_stop_token
from mailer.web.bodies import TEXT, documented, object_schema
from mailer.web.clients import client_address
from mailer.web.deps import objects_of, pages_of
from mailer.web.embeds import check_origin
from mailer.web.errors import headers_for, status_for, wants_json
from mailer.web.security import embeddable, origin

router = APIRouter()

TITLE = "إرسال الخبر إلى صديق"
SENT = "أرسلنا الخبر إلى صديقك. شكراً لمشاركتك."
STOPPED = "لن تصلك بعد الآن أخبار يرسلها إليك قرّاء الموقع. لم نحتفظ بعنوانك إلا بصيغة مشفّرة لا تُقرأ."


def desk_of(request: Request) -> ShareDesk:
    return objects_of(request).desk


async def _fields(request: Request) -> list[tuple[str, object]]:
    """The request's fields as (name, value) pairs, repeats kept so that they can be refused."""
    body = await request.body()  # bounded by mailer.web.bodies
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body, object_pairs_hook=list)
        except ValueError:
            raise InvalidInput("body", "is not valid JSON") from None
        if not isinstance(data, list):
            raise InvalidInput("body", "must be a JSON object")
        return [(str(k), v) for k, v in data]
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form(max_files=0, max_fields=len(FIELDS) + 4)
        except HTTPException as exc:  # a file, too many fields, a broken multipart body
            raise InvalidInput("body", str(exc.detail),
                               public_message="أرسل النموذج كما هو من صفحة الخبر، بلا ملفات أو حقول إضافية.") from None
        return list(form.multi_items())
    raise InvalidInput("body", f"content type {kind or 'none'!r}: send a form or JSON")


def _page(request: Request, article: Any, *, token: str, values: dict[str, str] | None = None,
          error: str | None = None, status_code: int = 200) -> HTMLResponse:
    desk = desk_of(request)
    s = desk.settings
    image = origin(article.image_url)
    page = pages_of(request).render(
        "share", title=TITLE, status_code=status_code, article=article, token=token,
        images=[image] if image else [], third_party=desk.captcha.provider.origins if desk.captcha else (),
        action=request.url_for("share_post").path, values=values or {}, error=error,
        honeypot=HONEYPOT, name_max=s.share_name_max_length, note_enabled=s.share_note_enabled,
        note_max=s.share_note_max_length, captcha=desk.captcha,
    )
    return embeddable(page, s)


def _form(request: Request, article: ArticleView) -> Response:
    """The form; JSON (``Accept: application/json``) gives a site's own widget the token."""
    desk = desk_of(request)
    token = desk.form_token(article.id)
    if wants_json(request):
        s = desk.settings
        return JSONResponse({
            "article_id": article.id, "title": article.title, "url": article.url, "form_token": token,
            "min_fill_seconds": s.share_min_fill_seconds, "note_enabled": s.share_note_enabled,
            "captcha": {"provider": s.share_captcha, "site_key": s.share_captcha_site_key,
                        "field": desk.captcha.field} if desk.captcha else None,
        })
    return _page(request, article, token=token)


@router.get("/share", response_model=None)
async def share_form_by_link(
    request: Request,
    url: Annotated[str, Query(max_length=URL_MAX)] = "",
    guid: Annotated[str, Query(max_length=GUID_MAX)] = "",
) -> Response:
    """The form of the article at ``url`` (a page of the site), or with the site's ``guid``."""
    if not url.strip() and not guid.strip():
        raise InvalidInput("url", "give the article's link (?url=) or its guid (?guid=)",
                           public_message="لم يُحدَّد الخبر المراد إرساله. افتح صفحة الإرسال من رابط الخبر.")
    return _form(request, await desk_of(request).article_by(guid=guid.strip() or None, url=url.strip() or None))


SHARE_BODY = object_schema({name: TEXT for name in FIELDS}, ("friend_email", "sender_name", "form_token"))


@router.post("/share", name="share_post", response_model=None, openapi_extra=documented(SHARE_BODY))
async def share_post(request: Request) -> Response:
    desk = desk_of(request)
    check_origin(request, desk.settings)
    fields = await _fields(request)
    try:
        accepted = await desk.share(fields, client_address(request))
    except MailerError as exc:
        if wants_json(request) or isinstance(exc, NotFound):
            raise
        return await _form_again(request, fields, exc)
    if wants_json(request):
        return JSONResponse({"status": "queued", "share_id": accepted.record_id}, status_code=202)
    return embeddable(pages_of(request).message(TITLE, SENT, status_code=202), desk.settings)


async def _form_again(request: Request, fields: list[tuple[str, object]], exc: MailerError) -> Response:
    """The form again, filled in as sent, with the refusal above it and the same status code."""
    desk = desk_of(request)
    values = {k: v for k, v in fields if isinstance(v, str) and k in FIELDS}
    try:
        number = values.get("article_id", "").strip()
        article = (await desk.article(int(number)) if number.isascii() and number.isdigit() and len(number) <= 12
                   else await desk.article_by(guid=values.get("guid") or None, url=values.get("url") or None))
    except MailerError:
        raise exc from None
    token = values.get("form_token", "")
    if getattr(exc, "reason", "") in ("bad_form_token", "form_expired", "form_used") or not token:
        token = desk.form_token(article.id)
    page = _page(request, article, token=token, values=values, error=exc.public_message,
                 status_code=status_for(exc))
    page.headers.update(headers_for(exc))
    return page


@router.get("/share/stop/{token}", response_class=HTMLResponse)
async def stop_page(token: str, request: Request) -> HTMLResponse:
    """A confirmation page only: link scanners follow GETs, so a GET changes nothing."""
    check_stop_token(desk_of(request).settings.keyring, token)
    return pages_of(request).render("share_stop", title="إيقاف الأخبار المرسلة من القرّاء")


@router.post("/share/stop/{token}", response_class=HTMLResponse)
async def stop(token: str, request: Request) -> HTMLResponse:
    """RFC 8058 one-click as well: any body, no cookie, 200 and no redirect, idempotent."""
    await desk_of(request).stop(token)
    return pages_of(request).message("إيقاف الأخبار المرسلة من القرّاء", STOPPED)


@router.get("/share/{guid:path}", response_model=None)
async def share_form(guid: str, request: Request) -> Response:
    """The form of the article with the site's ``guid`` (the feed's ``<guid>``, the CMS's id);
    registered last, so that ``/share/stop/...`` is never taken for a guid."""
    if len(guid) > GUID_MAX:
        raise InvalidInput("guid", f"longer than {GUID_MAX} characters")
    return _form(request, await desk_of(request).article_by(guid=guid))
