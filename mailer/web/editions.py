"""The editions pages of the console: ``/editor/editions`` (every edition, a page at a time) and
``/editor/editions/{id}`` (its progress, refreshed while it is being sent by a meta refresh, no
script; what it caused; its articles by clicks; pause and resume). Any signed-in editor.

Pause and resume are the circuit breaker's (``mailer.delivery.breaker``): an edition the breaker
stopped is resumed here as with ``mailer editions resume``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailer.core.headers import Identity
from mailer.core.models import Edition
from mailer.core.settings import Settings
from mailer.delivery import breaker, outbox
from mailer.editor import editions, labels
from mailer.web.auth import Editor
from mailer.web.deps import pages_of, service_of
from mailer.web.security import editor_page

router = APIRouter(prefix="/editor/editions")

REFRESH_SECONDS = 5
CHANGED = {
    "paused": "أُوقف إرسال العدد مؤقتاً. لن تُرسل رسائل أخرى منه حتى تستأنفه.",
    "resumed": "استُؤنف إرسال العدد.",
}


def _named(edition: Edition, settings: Settings) -> dict[str, Any]:
    label = Identity.for_list(settings, edition.list_name).list_label
    return {
        "id": edition.id, "status": edition.status, "status_label": labels.status(edition.status),
        "kind": labels.KINDS.get(edition.kind, labels.KINDS["digest"]),
        "name": labels.period_name(label, edition.kind, edition.period_key, edition.scheduled_at, settings),
        "reason": labels.reason(edition.status_reason, settings),
        "started": labels.moment(edition.started_at, settings) if edition.started_at else "",
    }


@router.get("", response_class=HTMLResponse)
async def editions_page(
    request: Request, who: Editor, before: Annotated[int | None, Query(ge=1, le=2**62)] = None
) -> HTMLResponse:
    svc = service_of(request)
    settings = svc.settings
    async with svc.db.transaction() as session:
        rows, next_before = await editions.page(session, before)
        counts = await outbox.counts(session, [e.id for e in rows])
    shown = [{**_named(e, settings), "counts": outbox.shown_counts(counts.get(e.id, {}))} for e in rows]
    return editor_page(
        pages_of(request), "editions", title="الأعداد", editor=who, csrf=who.csrf_token,
        editions=shown, next_before=next_before, first_page=before is None, statuses=labels.OUTBOX_STATUS,
    )


@router.get("/{edition_id}", response_class=HTMLResponse)
async def edition_page(request: Request, edition_id: int, who: Editor, changed: str = "") -> HTMLResponse:
    svc = service_of(request)
    settings = svc.settings
    async with svc.db.transaction() as session:
        report = await editions.report(session, edition_id)
    sending = report.edition.status == "sending"
    return editor_page(
        pages_of(request), "edition", title=f"العدد {edition_id}", editor=who, csrf=who.csrf_token,
        edition=_named(report.edition, settings), report=report, statuses=labels.OUTBOX_STATUS,
        refresh=REFRESH_SECONDS if sending else None, changed=CHANGED.get(changed),
        tracking=settings.tracking, track_opens=settings.track_opens,
    )


@router.post("/{edition_id}/sending/{action}")
async def pause_or_resume(
    request: Request, edition_id: int, action: Literal["pause", "resume"], who: Editor
) -> Response:
    svc = service_of(request)
    async with svc.db.transaction() as session:
        if action == "pause":
            await breaker.pause(session, edition_id, who.name)
        else:
            await breaker.resume(session, edition_id, svc.clock())
    if action == "resume":
        svc.woken()
    done = "paused" if action == "pause" else "resumed"
    return RedirectResponse(f"/editor/editions/{edition_id}?changed={done}", status_code=303)
