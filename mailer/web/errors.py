"""The one place where the exception tree becomes HTTP: JSON for ``/api``, an Arabic page else."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailer.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MailerError,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
)
from mailer.web.deps import pages_of, service_of
from mailer.web.embeds import is_embedded
from mailer.web.security import embeddable

log = logging.getLogger(__name__)

STATUS: list[tuple[type[MailerError], int]] = [
    (InvalidInput, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (TooLarge, 413),
]
# Starlette's and FastAPI's own refusals (no route, wrong method, a form it could not read):
# status -> (the field an API client is told to change, the Arabic message)
HTTP_REFUSALS: dict[int, tuple[str, str]] = {
    400: ("body", "تعذّرت قراءة الطلب. أرسل النموذج كما هو من الصفحة ثم أعد المحاولة."),
    404: ("path", "الصفحة المطلوبة غير موجودة. تحقّق من الرابط."),
    405: ("method", "لا تقبل هذه الصفحة هذا النوع من الطلبات."),
}


def status_for(exc: MailerError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def headers_for(exc: MailerError) -> dict[str, str]:
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
    return {}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    ) or request.headers.get("content-type", "").startswith("application/json")


def is_editor_page(request: Request) -> bool:
    """A browser asking for an editor page: sent to the login page instead of a bare 401."""
    path = request.url.path
    return (request.method == "GET" and (path == "/editor" or path.startswith("/editor/"))
            and not wants_json(request))


def install(app: FastAPI) -> None:
    @app.exception_handler(MailerError)
    async def _mailer_error(request: Request, exc: MailerError) -> Response:
        if isinstance(exc, Unauthorized) and is_editor_page(request):
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/editor/login?{urlencode({'next': back})}", status_code=303)
        status = status_for(exc)
        if status == 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        headers = headers_for(exc)
        if wants_json(request):
            body = {"error": type(exc).__name__, "message": exc.public_message, "detail": exc.message}
            if isinstance(exc, InvalidInput | TooLarge):
                body["field"] = exc.field
            return JSONResponse(body, status_code=status, headers=headers)
        page = pages_of(request).message("تعذّر تنفيذ الطلب", exc.public_message, status_code=status, error=True)
        page.headers.update(headers)
        if is_embedded(request.url.path):  # inside the site's frame, the reader sees why
            embeddable(page, service_of(request).settings)
        return page

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's English JSON never reaches a reader: the same Arabic answers as ours."""
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, MailerError):  # e.g. a body over its limit while FastAPI read a form
            return await _mailer_error(request, cause)
        field, message = HTTP_REFUSALS.get(exc.status_code, ("request", MailerError.public_message))
        if wants_json(request):
            response: Response = JSONResponse(
                {"error": "HTTPException", "message": message, "detail": str(exc.detail), "field": field},
                status_code=exc.status_code,
            )
        else:
            response = pages_of(request).message("تعذّر تنفيذ الطلب", message, status_code=exc.status_code,
                                                 error=True)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path", "form"))
        return await _mailer_error(request, InvalidInput(field or "body", str(err["msg"])))
