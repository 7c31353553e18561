"""The public ends of click and open tracking (``mailer.compose.tracking``): ``/r/{token}``
redirects to the target a signed link names and counts the click; ``/o/{token}`` answers a 1x1
GIF and counts the open. Each does one upsert (per-reader mode: also the reader's row).

Never an open redirect: the target must be the one the token was signed for; a bad, cut or
missing signature gets an Arabic error page (400), never a redirect. A count that cannot be
written (an edition pruned since) does not stop the reader: they still reach the article.
"""

from __future__ import annotations

import base64
import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from mailer.compose import tracking
from mailer.compose.tracking import Click
from mailer.core.errors import InvalidToken
from mailer.events import tracking as records
from mailer.events.machines import audience
from mailer.web.deps import pages_of, service_of

log = logging.getLogger(__name__)
router = APIRouter()

# the smallest transparent GIF: 1x1, one colour
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
BAD_LINK = "هذا الرابط غير صالح أو منقوص. افتح الخبر من موقعنا مباشرة، أو انسخ الرابط كاملاً من الرسالة."
Target = Annotated[str, Query(max_length=tracking.MAX_TARGET)]


def _bad_link(request: Request) -> HTMLResponse:
    response = pages_of(request).message("رابط غير صالح", BAD_LINK, status_code=400, error=True)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


async def _count(request: Request, hit: Click, kind: records.Kind, reader: str) -> None:
    svc = service_of(request)
    settings = svc.settings
    now = svc.clock()
    subscriber_id = None
    if reader and settings.tracking == "per_reader":
        try:
            subscriber_id = tracking.check_reader(settings.keyring, reader, hit.edition_id)
        except InvalidToken:
            subscriber_id = None  # the link itself is good: counted, but for no one
    try:
        async with svc.db.transaction() as session:
            delivered = None
            if subscriber_id is not None:
                delivered = await records.delivered_at(session, hit.edition_id, subscriber_id)
                if delivered is None:  # not sent to them, or they were forgotten since
                    subscriber_id = None
            since = (now - delivered).total_seconds() if delivered else now.timestamp() - hit.since
            who, why = audience(request.method, request.headers, seconds_since_delivery=since)
            await records.record(session, hit.edition_id, hit.article_id, kind, who, now,
                                 subscriber_id=subscriber_id)
    except IntegrityError:
        log.warning("a %s of edition %s was not counted: the edition is gone", kind, hit.edition_id)
        return
    log.debug("%s of edition %s article %s: %s (%s)", kind, hit.edition_id, hit.article_id, who, why)


@router.api_route("/r/{token}", methods=["GET", "HEAD"], include_in_schema=False)
async def click(request: Request, token: str, u: Target = "") -> Response:
    return await _click(request, token, "", u)


@router.api_route("/r/{token}/{reader}", methods=["GET", "HEAD"], include_in_schema=False)
async def click_by_reader(request: Request, token: str, reader: str, u: Target = "") -> Response:
    return await _click(request, token, reader, u)


async def _click(request: Request, token: str, reader: str, target: str) -> Response:
    settings = service_of(request).settings
    try:
        hit = tracking.check_link(settings.keyring, token, target)
    except InvalidToken:
        return _bad_link(request)
    if settings.tracking != "off":  # links from before tracking was turned off still lead on
        await _count(request, hit, "click", reader)
    response = RedirectResponse(target, status_code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.api_route("/o/{token}", methods=["GET", "HEAD"], include_in_schema=False)
async def pixel(request: Request, token: str) -> Response:
    return await _open(request, token, "")


@router.api_route("/o/{token}/{reader}", methods=["GET", "HEAD"], include_in_schema=False)
async def pixel_by_reader(request: Request, token: str, reader: str) -> Response:
    return await _open(request, token, reader)


async def _open(request: Request, token: str, reader: str) -> Response:
    settings = service_of(request).settings
    try:
        hit = tracking.check_open(settings.keyring, token)
    except InvalidToken:
        hit = None  # still an image, so no mail client shows a broken one; nothing counted
    if hit is not None and settings.tracking != "off" and settings.track_opens:
        await _count(request, hit, "open", reader)
    return Response(PIXEL, media_type="image/gif", headers={
        "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
        "Pragma": "no-cache", "Expires": "0", "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })
