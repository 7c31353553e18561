"""The JSON API: articles from the CMS, and edition progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from mailer.articles import ingest
from mailer.core.errors import InvalidInput
from mailer.core.models import Edition
from mailer.delivery import outbox
from mailer.web.bodies import documented
from mailer.web.deps import require_api_token, service_of

router = APIRouter(prefix="/api")


@router.post("/articles", dependencies=[Depends(require_api_token)],
             openapi_extra=documented(ingest.ArticlePayload.model_json_schema(), form=False))
async def post_article(request: Request) -> dict[str, Any]:
    """One article as JSON (see ``ArticlePayload``); posting it again updates it in place, and
    ``breaking: true`` alerts the immediate lists once (``alerts``: list to sending or held;
    empty when it had been alerted before)."""
    svc = service_of(request)
    try:
        payload = await request.json()
    except ValueError:
        raise InvalidInput("body", "is not valid JSON") from None
    article = ingest.parse_api(payload, now=svc.clock())
    async with svc.db.transaction() as session:
        result = await ingest.store(session, [article])
    status = "created" if result.new else "updated" if result.updated else "unchanged"
    answer: dict[str, Any] = {"id": result.ids[0], "guid": article.guid, "status": status}
    if result.breaking:  # sent at once to the immediate lists, the first time only
        alerts = await svc.alert(result.ids[0])
        answer["alerts"] = {r.edition.list_name: r.action for r in alerts if r.edition is not None}
    return answer


@router.get("/editions", dependencies=[Depends(require_api_token)])
async def list_editions(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    svc = service_of(request)
    async with svc.db.transaction() as session:
        rows = list(await session.scalars(select(Edition).order_by(Edition.id.desc()).limit(limit)))
        counts = await outbox.counts(session, [e.id for e in rows])
    return [edition_json(e, counts.get(e.id, {})) for e in rows]


def edition_json(e: Edition, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,  # digest, or alert (breaking news)
        "list": e.list_name,
        "period": e.period_key,
        "status": e.status,
        "reason": e.status_reason,
        "scheduled_at": e.scheduled_at.isoformat(),
        "finished_at": e.finished_at.isoformat() if e.finished_at else None,
        "counts": counts,
    }
