"""Machines apart from readers: privacy proxies, link scanners, HEAD requests, prefetches and
clicks within seconds of delivery are machines; a person's browser, later, is a reader."""

from __future__ import annotations

import pytest

from mailer.events.machines import audience

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Mobile/15E148")


@pytest.mark.parametrize(("method", "headers", "since", "expected"), [
    ("GET", {"user-agent": CHROME}, 600.0, "reader"),
    ("GET", {"user-agent": IPHONE}, None, "reader"),
    ("GET", {"user-agent": "GoogleImageProxy"}, 600.0, "reader"),  # Gmail fetches when the reader opens
    ("HEAD", {"user-agent": CHROME}, 600.0, "machine"),
    ("GET", {}, 600.0, "machine"),
    ("GET", {"user-agent": "Mozilla/5.0"}, 600.0, "machine"),  # Apple Mail Privacy Protection
    ("GET", {"user-agent": "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"}, 600.0, "machine"),
    ("GET", {"user-agent": "Barracuda Sentinel (EE)"}, 600.0, "machine"),
    ("GET", {"user-agent": "python-requests/2.32.3"}, 600.0, "machine"),
    ("GET", {"user-agent": "Mozilla/5.0 (compatible; bingbot/2.0)"}, 600.0, "machine"),
    ("GET", {"user-agent": CHROME, "sec-purpose": "prefetch;prerender"}, 600.0, "machine"),
    ("GET", {"user-agent": CHROME, "purpose": "prefetch"}, 600.0, "machine"),
    ("GET", {"user-agent": CHROME}, 0.8, "machine"),  # a scanner clicking as the message arrives
    ("GET", {"user-agent": CHROME}, 2.5, "reader"),
])
def test_who_asked(method: str, headers: dict[str, str], since: float | None, expected: str) -> None:
    who, why = audience(method, headers, seconds_since_delivery=since)
    assert who == expected, why
    assert why
