"""Request bodies: bounded before anything parses them, and described for the OpenAPI schema of
the routes that read them themselves. The bound is an ASGI middleware that counts the bytes
as they arrive (so a chunked body without Content-Length is bounded too) and raises ``TooLarge``
from ``receive`` once a body passes its path's limit; the app's error mapping answers 413 in
Arabic (a page, or JSON naming the field). A declared Content-Length over the limit is refused on
the first read, before a byte of the body is taken."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.core.errors import TooLarge

FORM_BYTES = 64 * 1024  # every public and editor form is a few hundred bytes to a few kilobytes
LIMITS = (  # path prefix -> bytes; the first match wins
    ("/api/bounces", 10 * 1024 * 1024),  # a bounce quotes the whole original message
    ("/api/", 2 * 1024 * 1024),  # an article body is at most 500,000 characters
    ("/editor/subscribers/import", 21 * 1024 * 1024),  # a CSV of subscribers (20 MB and the form)
)


def limit_for(path: str) -> int:
    return next((limit for prefix, limit in LIMITS if path.startswith(prefix)), FORM_BYTES)


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = _content_length(scope)
        received = 0

        async def bounded() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise TooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(limit)
            return message

        await self.app(scope, bounded, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def documented(schema: dict[str, Any], *, form: bool = True, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` describing a body the route reads itself (JSON, and a form when ``form``),
    so that the schema tells API clients, and the fuzzer, what to send."""
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": schema}
    return {"requestBody": {"required": required, "content": content}}


def object_schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


TEXT = {"type": "string"}
