"""Telling machines from readers, for click and open counts. Pure: a request's method, headers and
timing in, an audience out.

Counted as machines, apart from readers: Apple Mail Privacy Protection (its proxy fetches every
image of every message as it arrives, with the bare user agent ``Mozilla/5.0``), link scanners
and previewers that follow every link (Microsoft Safe Links, Proofpoint, Mimecast, Barracuda,
chat apps' previews, HTTP libraries), ``HEAD`` requests (a person's browser never sends one for a
click), prefetches (``Purpose``/``Sec-Purpose: prefetch``), requests with no user agent, and
anything within ``FAST_SECONDS`` of delivery, which no person reading mail manages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Audience = Literal["reader", "machine"]
FAST_SECONDS = 2.0

# lower-case parts of user agents that only machines send
MACHINE_AGENTS = (
    "bot", "crawler", "spider", "scanner", "preview", "proofpoint", "urldefense", "mimecast",
    "barracuda", "safelinks", "safe links", "microsoft office", "ms-office", "symantec", "messagelabs",
    "trend micro", "forcepoint", "zscaler", "sophos", "fireeye", "cisco", "ironport", "fortiguard",
    "headlesschrome", "phantomjs", "python-", "curl/", "wget/", "go-http-client", "java/", "okhttp",
    "libwww", "httpclient", "axios/", "node-fetch", "facebookexternalhit", "slackbot", "twitterbot",
    "whatsapp", "telegrambot", "discordbot", "skypeuripreview", "linkedinbot",
)
# the whole user agent of Apple's Mail Privacy Protection proxy
APPLE_PROXY_AGENTS = frozenset({"mozilla/5.0"})
PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")


def audience(
    method: str, headers: Mapping[str, str], *, seconds_since_delivery: float | None = None
) -> tuple[Audience, str]:
    """Who made a request to a tracked link or the open pixel, and why we think so; ``headers``
    with lower-case names (Starlette's ``Headers`` are)."""
    if method.upper() == "HEAD":
        return "machine", "HEAD request"
    agent = headers.get("user-agent", "").strip().lower()
    if not agent:
        return "machine", "no user agent"
    if agent in APPLE_PROXY_AGENTS:
        return "machine", "Apple Mail Privacy Protection"
    for part in MACHINE_AGENTS:
        if part in agent:
            return "machine", f"user agent ({part})"
    for name in PREFETCH_HEADERS:
        value = headers.get(name, "").lower()
        if "prefetch" in value or "preview" in value or "prerender" in value:
            return "machine", f"{name}: {value[:40]}"
    if seconds_since_delivery is not None and -60 <= seconds_since_delivery < FAST_SECONDS:
        return "machine", "within seconds of delivery"
    return "reader", "a person's browser"
