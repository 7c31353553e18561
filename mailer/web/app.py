"""The ASGI app: public endpoints, the JSON API and the editor pages."""

from __future__ import annotations

from fastapi import FastAPI

from mailer.delivery.service import Service
from mailer.editor.previews import Previews
from mailer.web import api, bounces, editor, errors, public, share, subscription
from mailer.web.bodies import BodyLimit
from mailer.web.deps import WebObjects


def create_app(service: Service, *, previews: Previews | None = None) -> FastAPI:
    """The app with its shared objects built now, at start-up: the first request finds them ready
    (an ASGI server with or without a lifespan, or a test's in-process transport, alike)."""
    app = FastAPI(title="Arabic mailer", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.objects = WebObjects.build(service, previews=previews)
    errors.install(app)
    app.add_middleware(BodyLimit)
    for module in (editor, public, api, share, subscription, bounces):
        app.include_router(module.router)
    return app
