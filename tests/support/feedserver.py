"""A real HTTP server on loopback for feed tests (Starlette under uvicorn, in the test's event
loop): each path answers with a handler the test scripts, and every request is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mailer.delivery.devmailbox import free_port

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    url: str = ""
    handlers: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def serve(self, path: str, handler: Handler) -> str:
        self.handlers[path] = handler
        return self.url + path

    def static(self, path: str, body: bytes, *, etag: str | None = None, last_modified: str | None = None) -> str:
        """``body`` at ``path``, with validators; a matching conditional GET gets 304."""

        async def handler(request: Request) -> Response:
            headers = {k: v for k, v in (("ETag", etag), ("Last-Modified", last_modified)) if v}
            if (etag and request.headers.get("if-none-match") == etag) or (
                last_modified and request.headers.get("if-modified-since") == last_modified
            ):
                return Response(status_code=304, headers=headers)
            return Response(body, media_type="application/rss+xml", headers=headers)

        return self.serve(path, handler)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


def trickle(body: bytes, *, pieces: int, every: float) -> Handler:
    """A handler that sends ``body`` in ``pieces``, one every ``every`` seconds: each read gets a
    byte well within any per-read timeout, yet the whole takes ``pieces * every`` seconds."""

    async def handler(request: Request) -> Response:
        size = -(-len(body) // pieces)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), size):
                yield body[start:start + size]
                await asyncio.sleep(every)

        return StreamingResponse(chunks(), media_type="application/rss+xml")

    return handler


@asynccontextmanager
async def feed_server() -> AsyncIterator[FeedServer]:
    state = FeedServer()

    async def dispatch(request: Request) -> Response:
        state.seen.append(Seen(request.url.path, dict(request.headers)))
        handler = state.handlers.get(request.url.path)
        return await handler(request) if handler else Response("not found", status_code=404)

    app = Starlette(routes=[Route("/{path:path}", dispatch)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.should_exit = True
        await task
