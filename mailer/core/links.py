"""An article's link reduced to what identifies it, so that the URL a page of the site gives
(``location.href``, a canonical link, a shared copy) finds the article its feed announced.

Two keys per link, both SHA-256 hex of a normal form: ``full`` keeps the query string (sites
whose articles are ``article.php?id=17``), ``base`` drops it. The normal form ignores what does
not change the page: the scheme, a leading ``www.``, the default port, the fragment, a trailing
slash, ``utm_*`` and other tracking parameters, the order of the parameters, and the
difference between an Arabic path and its percent-encoded form. Pure.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

TRACKING = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "igshid"})  # and every utm_*
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class LinkKeys:
    full: str
    base: str


def _host(netloc_host: str) -> str:
    host = netloc_host.lower().rstrip(".")
    with contextlib.suppress(UnicodeError):  # not IDNA-encodable: compare it as given
        host = host.encode("idna").decode("ascii")
    return host.removeprefix("www.")


def normal_form(url: str) -> tuple[str, str]:
    """(with query, without query) normal forms of an http(s) URL; ``ValueError`` otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url[:200]!r} is not an http(s) URL")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url[:200]!r} has a port that is not a number") from None
    host = _host(parts.hostname)
    if port not in (None, 80, 443):
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE).rstrip("/")
    params = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING
    )
    base = f"{host}{path}"
    return (f"{base}?{urlencode(params)}" if params else base), base


def link_keys(url: str) -> LinkKeys:
    full, base = normal_form(url)
    return LinkKeys(_digest(full), _digest(base))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
