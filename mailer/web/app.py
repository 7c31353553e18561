"""The ASGI app: public endpoints, the JSON API and the editor pages."""

from __future__ import annotations

from fastapi import FastAPI

from mailer.delivery.service import Service
from mailer.editor.previews import Previews
from mailer.web import api, archive, bounces, editor, embeds, errors, ops, public, share, subscription
from mailer.web.deps import WebObjects


def create_app(service: Service, *, previews: Previews | None = None) -> FastAPI:
    """The app with its shared objects built now, at start-up: the first request finds them ready
    (an ASGI server with or without a lifespan, or a test's in-process transport, alike)."""
    app = FastAPI(title="Arabic mailer", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.objects = WebObjects.build(service, previews=previews)
    errors.install(app)
    for module in (editor, public, api, share, subscription, bounces, embeds, ops, archive):
        app.include_router(module.router)
    app.add_middleware(embeds.EmbedCORS, origins=service.settings.site_origins)
    return app
