"""The web app's shared objects, built once when the app is made (``create_app``), never lazily
on a first request, and the per-request accessors the routers use; the editor API token check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem

from mailer.compose.archive import WebVersions
from mailer.core.errors import NotFound, Unauthorized
from mailer.core.ratelimit import RateLimiter
from mailer.delivery.notifier import Notifier
from mailer.delivery.service import Service
from mailer.editor.console import Imports
from mailer.editor.previews import Previews
from mailer.ops.metrics import Exposition
from mailer.shares.desk import ShareDesk
from mailer.web.pages import Pages
from mailer.web.subscribing import Subscriptions


@dataclass(frozen=True)
class WebObjects:
    """Everything the routers share, for the life of the process."""

    service: Service
    pages: Pages
    notifier: Notifier
    desk: ShareDesk
    previews: Previews
    exposition: Exposition
    web_versions: WebVersions
    limiter: RateLimiter  # per-client limits of the subscription and sign-in pages
    subscribe_limits: list[RateLimitItem]
    login_account_limits: list[RateLimitItem]  # failed sign-ins, see mailer.web.auth
    login_ip_limits: list[RateLimitItem]
    imports: Imports  # the console's CSV imports, run off the request
    subscriptions: Subscriptions  # POST /subscribe's work after the answer, a batch at a time

    @classmethod
    def build(cls, service: Service, *, previews: Previews | None = None) -> WebObjects:
        notifier = Notifier(service.settings, service.renderer)
        return cls(
            service=service,
            pages=Pages(service.settings),
            notifier=notifier,
            desk=ShareDesk(service),
            previews=previews or Previews(service.settings, service.renderer),
            exposition=Exposition(service.db),
            web_versions=WebVersions(service.db, service.renderer),
            limiter=RateLimiter(service.settings.share_rate_storage),
            subscribe_limits=RateLimiter.parse(service.settings.subscribe_ip_limits),
            login_account_limits=RateLimiter.parse(service.settings.login_account_limits),
            login_ip_limits=RateLimiter.parse(service.settings.login_ip_limits),
            imports=Imports(service.db, service.settings, notifier, service.clock, wake=service.wake.set),
            subscriptions=Subscriptions(service, notifier),
        )


def objects_of(request: Request) -> WebObjects:
    return request.app.state.objects  # type: ignore[no-any-return]


def service_of(request: Request) -> Service:
    return objects_of(request).service


def pages_of(request: Request) -> Pages:
    return objects_of(request).pages


def require_api_token(request: Request) -> None:
    """``Authorization: Bearer <MAILER_API_TOKEN>``; without the setting the API is closed."""
    expected = service_of(request).settings.api_token
    if expected is None:
        raise Unauthorized("the article API is closed: set MAILER_API_TOKEN to open it")
    _bearer(request, expected.get_secret_value())


def require_metrics_token(request: Request) -> None:
    """``Authorization: Bearer <MAILER_METRICS_TOKEN>``; without the setting ``/metrics`` is not
    served by the public app at all (``MAILER_METRICS_ADDRESS`` serves it on its own address)."""
    expected = service_of(request).settings.metrics_token
    if expected is None:
        raise NotFound("/metrics is off here: set MAILER_METRICS_TOKEN, or scrape MAILER_METRICS_ADDRESS")
    _bearer(request, expected.get_secret_value())


def _bearer(request: Request, expected: str) -> None:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected.encode()):
        raise Unauthorized("missing or wrong bearer token")
