"""Arabic RTL web pages, rendered from ``templates/web`` with the same sandboxed environment, each
with the public pages' security headers (``mailer.web.security``; editor pages replace them)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from fastapi.responses import HTMLResponse

from mailer.compose.render import template_environment
from mailer.core.settings import Settings
from mailer.web.security import harden_public, public_csp


class Pages:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = template_environment(settings)

    def render(self, name: str, *, title: str, status_code: int = 200, nonce: str | None = None,
               images: Iterable[str] = (), third_party: Iterable[str] = (), **context: Any) -> HTMLResponse:
        """``images`` and ``third_party``: origins the page's policy allows (see ``public_csp``)."""
        s = self.settings
        nonce = nonce or secrets.token_urlsafe(18)
        site = {"name": s.site_name, "url": s.base_url}
        scheduled = [{"key": k, "name": s.lists[k].name} for k in s.scheduled_lists]
        html = self.env.get_template(f"web/{name}.html").render(site=site, title=title, nonce=nonce,
                                                                scheduled_lists=scheduled, **context)
        response = HTMLResponse(html, status_code=status_code)
        harden_public(response, public_csp(s, nonce, images=images, third_party=third_party))
        return response

    def message(self, title: str, message: str, *, status_code: int = 200, error: bool = False) -> HTMLResponse:
        return self.render("message", title=title, message=message, error=error, status_code=status_code)
