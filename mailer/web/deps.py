"""Request-scoped access to the process's ``Service`` and the editor API token."""

from __future__ import annotations

import hmac

from fastapi import Request

from mailer.core.errors import Unauthorized
from mailer.delivery.service import Service


def service_of(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def require_api_token(request: Request) -> None:
    """``Authorization: Bearer <MAILER_API_TOKEN>``; without the setting the API is closed."""
    expected = service_of(request).settings.api_token
    if expected is None:
        raise Unauthorized("the article API is closed: set MAILER_API_TOKEN to open it")
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized("missing or wrong bearer token")
