"""``POST /api/bounces``: one raw bounce or complaint message, e.g. piped in by the relay."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from mailer.core.errors import InvalidInput
from mailer.events import bounces, reports
from mailer.web.deps import require_api_token, service_of

router = APIRouter(prefix="/api")


@router.post("/bounces", dependencies=[Depends(require_api_token)], openapi_extra={"requestBody": {
    "required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}})  # any type is read
async def post_bounce(request: Request) -> dict[str, Any]:
    """The body is the message as received (RFC 5322 bytes, any content type; at most the
    limit of ``mailer.web.bodies``); the answer says
    what it was and what was done: counted, disabled, suppressed, ignored, unattributed."""
    svc = service_of(request)
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("body", "is empty: send the raw bounce message")
    if b":" not in raw.split(b"\n", 1)[0]:
        raise InvalidInput("body", "does not start with a header field: send the raw message")
    report = reports.parse(raw, svc.settings.keyring)
    async with svc.db.transaction() as session:
        handled = await bounces.handle_report(
            session, svc.settings, report, svc.clock(), source="arf" if report.kind == "complaint" else "dsn"
        )
    return {**handled.as_json(), "detail": report.detail}
