"""The CAPTCHA hook of the share form: a response token checked server-side with the provider's
``siteverify`` endpoint (hCaptcha, Cloudflare Turnstile and reCAPTCHA share its protocol)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from mailer.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Provider:
    script_url: str
    widget_class: str
    response_field: str
    verify_url: str
    origins: tuple[str, ...]  # what the share page's policy must let the widget load (its docs)


PROVIDERS = {
    "hcaptcha": Provider("https://js.hcaptcha.com/1/api.js", "h-captcha", "h-captcha-response",
                         "https://api.hcaptcha.com/siteverify", ("https://hcaptcha.com", "https://*.hcaptcha.com")),
    "turnstile": Provider("https://challenges.cloudflare.com/turnstile/v0/api.js", "cf-turnstile",
                          "cf-turnstile-response", "https://challenges.cloudflare.com/turnstile/v0/siteverify",
                          ("https://challenges.cloudflare.com",)),
    "recaptcha": Provider("https://www.google.com/recaptcha/api.js", "g-recaptcha", "g-recaptcha-response",
                          "https://www.google.com/recaptcha/api/siteverify",
                          ("https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/")),
}


class Captcha(Protocol):
    """What the share desk needs: the form field that carries the answer, and a verdict."""

    field: str

    async def verify(self, response: str, remote_ip: str) -> bool: ...


class SiteVerify:
    """POST ``secret``, ``response`` and ``remoteip``; the answer's ``success`` is the verdict.
    A provider that cannot be reached counts as a failed check: the form fails closed."""

    def __init__(self, provider: Provider, site_key: str, secret: str, *, verify_url: str | None = None,
                 timeout: float = 5.0) -> None:
        self.provider = provider
        self.site_key = site_key
        self.field = provider.response_field
        self._secret = secret
        self.verify_url = verify_url or provider.verify_url
        self.timeout = timeout

    async def verify(self, response: str, remote_ip: str) -> bool:
        if not response.strip():
            return False
        data = {"secret": self._secret, "response": response, "remoteip": remote_ip}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                reply = await client.post(self.verify_url, data=data)
            return reply.status_code == 200 and reply.json().get("success") is True
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("captcha check at %s failed: %s", self.verify_url, exc)
            return False


def captcha_for(settings: Settings) -> SiteVerify | None:
    if settings.share_captcha == "none":
        return None
    assert settings.share_captcha_site_key and settings.share_captcha_secret  # the settings checked
    return SiteVerify(
        PROVIDERS[settings.share_captcha], settings.share_captcha_site_key,
        settings.share_captcha_secret.get_secret_value(), verify_url=settings.share_captcha_verify_url,
    )
