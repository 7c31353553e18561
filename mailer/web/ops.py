"""Operations endpoints: ``/metrics`` (Prometheus text format, bearer token) and ``/readyz``
(database reachable and migrated, relay answers EHLO); and the small app that serves both on
``MAILER_METRICS_ADDRESS`` without a token, for a scraper on a private address."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from mailer.delivery.service import Service
from mailer.ops import checks
from mailer.ops.metrics import Exposition
from mailer.web.deps import objects_of, require_metrics_token, service_of

log = logging.getLogger(__name__)

router = APIRouter()
READY_TIMEOUT = 5.0  # seconds the relay gets to answer EHLO


async def _metrics(exposition: Exposition) -> Response:
    return Response(await exposition.render(), media_type=CONTENT_TYPE_LATEST)


async def _ready(service: Service) -> JSONResponse:
    database, relay = await asyncio.gather(
        checks.database(service.db),
        checks.relay(checks.relay_of(service), timeout=READY_TIMEOUT, login=False),
    )
    results = [database, *relay]
    body = {c.name.split()[0]: ("ok" if c.ok else "failed") for c in results}
    ready = all(c.ok for c in results)
    if not ready:
        log.warning("not ready: %s", "; ".join(f"{c.name}: {c.detail}" for c in results if not c.ok))
    return JSONResponse({"ready": ready, **body}, status_code=200 if ready else 503)


@router.get("/metrics", dependencies=[Depends(require_metrics_token)], include_in_schema=False)
async def metrics(request: Request) -> Response:
    return await _metrics(objects_of(request).exposition)


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """200 when this process can do its work: database at the newest migration, relay greeting."""
    return await _ready(service_of(request))


def metrics_app(service: Service) -> FastAPI:
    """``/metrics`` and ``/readyz`` alone, no token: bind it to loopback or a private address."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    exposition = Exposition(service.db)

    @app.get("/metrics")
    async def _metrics_here() -> Response:
        return await _metrics(exposition)

    @app.get("/readyz")
    async def _ready_here() -> JSONResponse:
        return await _ready(service)

    return app
