"""The API's description, only when ``MAILER_API_DOCS=true`` and only for signed-in editors:
``/api/openapi.json`` (public and API routes; the editor pages are left out of the schema) and
``/api/docs``, a plain page listing them. Both lead to their place under ``/editor``, where the
session cookie is sent. No Swagger UI: it would run script from a CDN, and editor pages run none."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from mailer.web.auth import Editor
from mailer.web.deps import pages_of
from mailer.web.security import editor_page

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "put", "patch", "delete")


@router.get("/api/openapi.json")
@router.get("/api/docs")
async def to_editor_pages(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/editor{request.url.path}", status_code=303)


@router.get("/editor/api/openapi.json")
async def openapi(request: Request, who: Editor) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/editor/api/docs", response_class=HTMLResponse)
async def docs(request: Request, who: Editor) -> HTMLResponse:
    schema: dict[str, Any] = request.app.openapi()
    operations = [
        {"method": method.upper(), "path": path, "summary": op.get("summary") or op.get("description", "")}
        for path, item in sorted(schema.get("paths", {}).items()) for method, op in item.items() if method in METHODS
    ]
    return editor_page(pages_of(request), "api_docs", title="واجهة البرمجة", editor=who, csrf=who.csrf_token,
                       operations=operations)
