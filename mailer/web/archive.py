"""Public pages of past digests: the root (sent on to the news site), each list's archive and
each edition's web version, the "view in browser" link of every digest. No personal data, no
login; what went out is public anyway."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from mailer.articles.site import home_url
from mailer.compose.archive import past_editions
from mailer.core.errors import NotFound
from mailer.web.deps import objects_of, pages_of, service_of

router = APIRouter()

# published editions do not change; an hour in shared caches spares the render thread
PUBLIC_CACHE = {"Cache-Control": "public, max-age=3600"}


@router.get("/", include_in_schema=False)
async def root(request: Request) -> RedirectResponse:
    """This service's own root: the news site's home page when known, else the archives."""
    svc = service_of(request)
    async with svc.db.transaction() as session:
        home = await home_url(session, svc.settings)
    return RedirectResponse(home or "/archive", status_code=303)


@router.get("/archive", response_class=HTMLResponse)
async def archive_index(request: Request) -> HTMLResponse:
    news_lists = service_of(request).settings.lists
    lists = [(key, news_list.name, f"/archive/{key}") for key, news_list in news_lists.items()]
    return pages_of(request).render("archive_index", title="أرشيف النشرات", lists=lists)


def _label(request: Request, list_name: str) -> str:
    news_list = service_of(request).settings.lists.get(list_name)
    if news_list is None:
        raise NotFound(f"no list {list_name!r}", public_message="لا توجد نشرة بهذا الاسم.")
    return news_list.name


@router.get("/archive/{list_name}", response_class=HTMLResponse)
async def archive(list_name: str, request: Request) -> HTMLResponse:
    """A list's editions that went out, newest first, each linking to its web version."""
    label = _label(request, list_name)
    svc = service_of(request)
    async with svc.db.transaction() as session:
        editions = await past_editions(session, svc.renderer, list_name)
    page = pages_of(request).render("archive", title=f"الأعداد السابقة من {label}", editions=editions)
    page.headers.update(PUBLIC_CACHE)
    return page


@router.get("/archive/{list_name}/{edition_id}", response_class=HTMLResponse)
async def web_version(list_name: str, edition_id: int, request: Request) -> HTMLResponse:
    """One edition as it went out, without its personal parts."""
    _label(request, list_name)
    html = await objects_of(request).web_versions.html(list_name, edition_id)
    return HTMLResponse(html, headers=PUBLIC_CACHE)
