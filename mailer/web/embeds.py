"""What the site pastes into its pages, and what lets it work there and nowhere else.

* CORS (Starlette's ``CORSMiddleware``) for the origins of ``MAILER_SITE_ORIGINS``, never ``*``
  and without credentials, on the public JSON endpoints only: ``POST /subscribe``, the share
  form token (``GET /share...`` with ``Accept: application/json``) and ``POST /share``;
* who may frame the subscribe and share forms (``security.frame_ancestors``);
* a browser's form post from another origin is refused unless that origin is listed;
* ``GET /embed/share.js``: a small script that opens a share link's form in a dialog; without
  JavaScript the link opens the form itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mailer.core.errors import Forbidden
from mailer.core.settings import Settings
from mailer.web.deps import pages_of

router = APIRouter()

SCRIPT = "web/embed/share.js"
FOREIGN_POST = "لا يقبل هذا النموذج الطلبات من هذا الموقع. افتح النموذج من موقعنا وأرسله من هناك."


def is_embedded(path: str) -> bool:
    """The endpoints a site's page may frame or its script call: subscribe, the share form (and
    its token), share; not the stop link, which is for the friend, in their own browser."""
    return path in ("/subscribe", "/share") or (path.startswith("/share/") and not path.startswith("/share/stop/"))


class EmbedCORS:
    """CORS for the site's origins on the public JSON endpoints; every other path, and every
    path when no origin is listed, is left exactly as it was (same-origin only)."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        listed = list(origins)
        self.cors = CORSMiddleware(
            app, allow_origins=listed, allow_methods=["GET", "POST"], allow_headers=["Content-Type", "Accept"],
            allow_credentials=False, max_age=600,
        ) if listed else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cors is not None and scope["type"] == "http" and is_embedded(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port not in (None, default) else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


def check_origin(request: Request, settings: Settings, *, site: bool = True) -> None:
    """A browser's POST names the page it came from (``Origin``): it must be this service, or
    (with ``site``) one of the site's origins. No ``Origin`` (a script, an old browser) or
    ``null`` (a privacy-minded one) is let through: this is defence in depth against other
    sites' pages, not authentication."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return
    allowed = {origin_of(settings.base_url), origin_of(str(request.base_url))}
    if site:
        allowed.update(settings.site_origins)
    if origin_of(origin) not in allowed:
        raise Forbidden(f"cross-site form post from {origin[:100]}: not this service nor in MAILER_SITE_ORIGINS",
                        public_message=FOREIGN_POST)


@router.get("/embed/share.js", include_in_schema=False)
async def share_script(request: Request) -> Response:
    """The share button's script, from ``templates/web/embed/share.js`` (an operator's template
    directory may replace it); served by this service, so the site loads nothing third-party."""
    env = pages_of(request).env
    source, _, _ = env.loader.get_source(env, SCRIPT)  # type: ignore[union-attr]
    return Response(source, media_type="text/javascript; charset=utf-8", headers={
        "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    })
