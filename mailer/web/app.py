"""The ASGI app: public endpoints, the JSON API and the editor pages."""

from __future__ import annotations

from fastapi import FastAPI

from mailer.delivery.service import Service
from mailer.web import api, bounces, editor, errors, public, subscription
from mailer.web.pages import Pages
from mailer.web.share import router as share_router


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="Arabic mailer", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.service = service
    app.state.pages = Pages(service.settings)
    errors.install(app)
    app.include_router(editor.router)
    app.include_router(public.router)
    app.include_router(api.router)
    app.include_router(share_router)
    app.include_router(subscription.router)
    app.include_router(bounces.router)
    return app
