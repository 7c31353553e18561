"""Arabic RTL web pages, rendered from ``templates/web`` with the same sandboxed environment."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse

from mailer.compose.render import template_environment
from mailer.core.settings import Settings


class Pages:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = template_environment(settings)

    def render(self, name: str, *, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        s = self.settings
        site = {"name": s.site_name, "url": s.base_url}
        scheduled = [{"key": k, "name": s.lists[k].name} for k in s.scheduled_lists]
        html = self.env.get_template(f"web/{name}.html").render(site=site, title=title, scheduled_lists=scheduled,
                                                                **context)
        return HTMLResponse(html, status_code=status_code)

    def message(self, title: str, message: str, *, status_code: int = 200, error: bool = False) -> HTMLResponse:
        return self.render("message", title=title, message=message, error=error, status_code=status_code)
