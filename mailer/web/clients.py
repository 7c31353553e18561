"""The one answer to "which client sent this request", for every per-client limit.

The address is the TCP peer's, unless the peer is one of ``MAILER_TRUSTED_PROXIES``: then
uvicorn's ``ProxyHeadersMiddleware`` (installed by ``create_app`` with exactly those proxies)
has put the nearest address in ``X-Forwarded-For`` that no trusted proxy added in its place, so
a client cannot choose its own by sending the header. The server itself must not apply
forwarded headers (``mailer serve`` runs uvicorn with ``proxy_headers=False``)."""

from __future__ import annotations

from fastapi import Request

from mailer.core.clients import client_key


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def client_of(request: Request) -> str:
    """The client as per-client limits count it (an IPv4 address or an IPv6 /64)."""
    return client_key(client_address(request))
