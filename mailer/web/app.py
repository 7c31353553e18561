"""The ASGI app: public endpoints, the JSON API and the editor pages."""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from mailer.delivery.service import Service
from mailer.editor.previews import Previews
from mailer.web import (
    api,
    archive,
    bounces,
    docs,
    editions,
    editor,
    embeds,
    errors,
    ops,
    public,
    share,
    subscription,
    tracking,
)
from mailer.web.bodies import BodyLimit
from mailer.web.deps import WebObjects


def create_app(service: Service, *, previews: Previews | None = None) -> FastAPI:
    """The app with its shared objects built now, at start-up: the first request finds them ready
    (an ASGI server with or without a lifespan, or a test's in-process transport, alike)."""
    # no docs routes of FastAPI's own: they are public and load Swagger UI from a CDN (mailer.web.docs)
    app = FastAPI(title="Arabic mailer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.objects = WebObjects.build(service, previews=previews)
    errors.install(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(embeds.EmbedCORS, origins=service.settings.site_origins)
    if service.settings.trusted_proxies:  # see mailer.web.clients
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(service.settings.trusted_proxies))
    app.include_router(editor.router, include_in_schema=False)
    app.include_router(editions.router, include_in_schema=False)
    for module in (public, api, share, subscription, bounces, embeds, ops, archive, tracking):
        app.include_router(module.router)
    if service.settings.api_docs:
        app.include_router(docs.router)
    return app


def server_config(app: FastAPI, *, host: str, port: int, log_level: str = "warning", **options: Any) -> uvicorn.Config:
    """How uvicorn serves the app, here and in the tests: no lifespan (the caller owns the
    service), and no forwarded headers of its own (uvicorn would believe any local peer's; the
    app applies ``MAILER_TRUSTED_PROXIES`` itself)."""
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off",
                          proxy_headers=False, **options)
