"""Response hardening, in one place: the Content-Security-Policy of the public pages (a nonce for
the one style block, images only from this service and the article's own host, no third-party
origin but a CAPTCHA provider when one is on), of the editor pages (no script at all), of
previewed e-mail HTML (sandboxed, no scripts); who may frame which; cookie flags; and the check
that keeps redirects on this site."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from mailer.core.settings import Settings

if TYPE_CHECKING:
    from mailer.web.pages import Pages

COOKIE_PATH = "/editor"
R = TypeVar("R", bound=Response)


def frame_ancestors(settings: Settings, *, embeddable: bool = False) -> str:
    """Who may show a public page in a frame: this service; for the forms the site embeds (the
    subscribe and share forms), the site's origins too (``MAILER_SITE_ORIGINS``)."""
    return " ".join(("'self'", *settings.site_origins)) if embeddable else "'self'"


def public_csp(settings: Settings, nonce: str, *, images: Iterable[str] = (), third_party: Iterable[str] = ()) -> str:
    """The policy of every public page: nothing but the nonce'd style block, images from this
    service and ``images`` (origins), forms posting here; ``third_party`` origins (a CAPTCHA
    provider the operator switched on) may run their script and frames."""
    extra = " ".join(dict.fromkeys(third_party))
    policy = [
        "default-src 'none'", f"style-src 'nonce-{nonce}'" + (f" {extra}" if extra else ""),
        "img-src " + " ".join(dict.fromkeys(("'self'", *images))), "form-action 'self'", "base-uri 'none'",
        f"frame-ancestors {frame_ancestors(settings)}",
    ]
    if extra:
        policy += [f"script-src {extra}", f"frame-src {extra}", f"connect-src {extra}"]
    return "; ".join(policy)


def harden_public(response: Response, csp: str) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"  # token pages tighten it to no-referrer
    return response


def origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, for a policy; None for anything else."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

# Editor pages run no script at all; the only style is the nonce'd block of the base template.
PAGE_CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Previewed e-mail: inline styles and remote images as a mail client shows them, nothing else;
# `sandbox` makes it an opaque origin without scripts even when opened outside the iframe.
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; font-src https: data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
)


def embeddable(response: R, settings: Settings) -> R:
    """A public form page the site's pages may frame (the subscribe and share forms): its policy
    with the site's origins as frame ancestors."""
    policy = [d for d in response.headers.get("Content-Security-Policy", "").split("; ")
              if d and not d.startswith("frame-ancestors ")]
    policy.append(f"frame-ancestors {frame_ancestors(settings, embeddable=True)}")
    response.headers["Content-Security-Policy"] = "; ".join(policy)
    return response


def harden(response: Response, csp: str, frame_options: str) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Frame-Options"] = frame_options
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def editor_page(pages: Pages, name: str, *, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """An editor page from ``templates/web/editor/{name}.html`` with its security headers."""
    nonce = secrets.token_urlsafe(18)
    response = pages.render(f"editor/{name}", title=title, status_code=status_code, nonce=nonce, **context)
    harden(response, PAGE_CSP.format(nonce=nonce), "DENY")
    return response


def email_frame(html: str) -> HTMLResponse:
    """Previewed e-mail HTML for the sandboxed iframe."""
    response = HTMLResponse(html)
    harden(response, FRAME_CSP, "SAMEORIGIN")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def secure_cookies(request: Request, base_url: str) -> bool:
    """Secure cookies behind HTTPS: the request came over https (uvicorn honours the proxy's
    X-Forwarded-Proto from trusted addresses), or it is for the public https host."""
    if request.url.scheme == "https":
        return True
    public = urlsplit(base_url)
    return public.scheme == "https" and request.url.hostname == public.hostname


def cookie_options(request: Request, base_url: str) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": secure_cookies(request, base_url),
            "path": COOKIE_PATH}


def local_path(target: str | None, default: str = "/editor") -> str:
    """``target`` if it is a path of the editor pages, else ``default`` (no open redirects)."""
    if not target or not (target == "/editor" or target.startswith("/editor/") or target.startswith("/editor?")):
        return default
    if "//" in target or "\\" in target or ".." in target or any(ord(ch) < 32 for ch in target):
        return default
    return target
