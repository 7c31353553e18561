"""Fetching a feed over HTTP (httpx): a conditional GET (ETag, Last-Modified), one deadline for
the whole fetch (every redirect, the headers and the body together, so a server that trickles a
byte a second cannot hold it: httpx's own timeouts are per read), a size cap counted on the
decoded body as it arrives, and redirects followed by hand, only to http(s), a few at most.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx

from mailer.core.errors import InvalidFeed
from mailer.core.metrics import FEED_ERRORS

MAX_REDIRECTS = 5
USER_AGENT = "arabic-mailer/0.1 (feed poller)"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Fetched:
    status: Literal["fetched", "not_modified"]
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


async def fetch(
    url: str,
    *,
    deadline: float,
    max_bytes: int,
    etag: str | None = None,
    last_modified: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Fetched:
    """GET ``url`` within ``deadline`` seconds in all; ``InvalidFeed`` says what went wrong."""
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with (
            asyncio.timeout(deadline),
            httpx.AsyncClient(follow_redirects=False, timeout=deadline, headers=headers, transport=transport) as client,
        ):
            return await _follow(client, url, max_bytes)
    except TimeoutError:
        FEED_ERRORS.inc()
        raise InvalidFeed("source", f"{url}: no complete answer within {deadline:g} s") from None
    except httpx.HTTPError as exc:
        FEED_ERRORS.inc()
        raise InvalidFeed("source", f"could not fetch {url}: {exc or type(exc).__name__}") from None
    except InvalidFeed:
        FEED_ERRORS.inc()
        raise


async def _follow(client: httpx.AsyncClient, url: str, max_bytes: int) -> Fetched:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream("GET", current) as response:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("location", "")
                target = urljoin(current, location)
                if urlsplit(target).scheme not in ("http", "https") or not location:
                    raise InvalidFeed("source", f"{current} redirects to {location[:200]!r}, not an http(s) URL")
                current = target
                continue
            if response.status_code == 304:
                return Fetched("not_modified", etag=response.headers.get("etag"),
                               last_modified=response.headers.get("last-modified"))
            if response.status_code != 200:
                raise InvalidFeed("source", f"{current} answered {response.status_code} {response.reason_phrase}")
            declared = response.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
                raise InvalidFeed("source", f"{current} is {declared} bytes, more than the {max_bytes} bytes allowed")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidFeed("source", f"{current} is larger than the {max_bytes} bytes allowed")
                chunks.append(chunk)
            return Fetched("fetched", b"".join(chunks), response.headers.get("etag"),
                           response.headers.get("last-modified"))
    raise InvalidFeed("source", f"{url}: more than {MAX_REDIRECTS} redirects")


async def read_source(source: str, *, deadline: float, max_bytes: int) -> bytes:
    """The bytes of a feed from an http(s) URL or a file path (``mailer ingest SOURCE``)."""
    if source.startswith(("http://", "https://")):
        return (await fetch(source, deadline=deadline, max_bytes=max_bytes)).body
    return await asyncio.to_thread(_read_file, Path(source), max_bytes)


def _read_file(path: Path, max_bytes: int) -> bytes:
    if not path.is_file():
        raise InvalidFeed("source", f"{str(path)!r} is neither an http(s) URL nor a readable file")
    if path.stat().st_size > max_bytes:
        raise InvalidFeed("source", f"{str(path)!r} is larger than the {max_bytes} bytes allowed")
    return path.read_bytes()
