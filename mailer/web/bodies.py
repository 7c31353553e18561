"""Request bodies bounded before anything parses them: an ASGI middleware that counts the bytes
as they arrive (so a chunked body without Content-Length is bounded too) and raises ``TooLarge``
from ``receive`` once a body passes its path's limit; the app's error mapping answers 413 in
Arabic (a page, or JSON naming the field). A declared Content-Length over the limit is refused on
the first read, before a byte of the body is taken."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.core.errors import TooLarge

FORM_BYTES = 64 * 1024  # every public and editor form is a few hundred bytes to a few kilobytes
LIMITS = (  # path prefix -> bytes; the first match wins
    ("/api/bounces", 10 * 1024 * 1024),  # a bounce quotes the whole original message
    ("/api/", 2 * 1024 * 1024),  # an article body is at most 500,000 characters
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
