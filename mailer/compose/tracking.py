"""Click and open tracking for digests and alerts: the links of a variant's HTML rewritten once,
to signed redirect links, and the tokens those links carry made and checked. Pure: no I/O.

A tracked link is ``{base}/r/{token}?u={target}``. The token is signed by the one keyring
(``mailer.core.signing``, purpose ``click``) over ``{edition}.{article}.{since}.{digest}``, where
``digest`` is 96 bits of the SHA-256 of the target: a link can only ever lead where we wrote it
to lead, for the edition and article we wrote, so ``/r/`` is never an open redirect. ``since``
is when the edition began to go out, for telling link scanners (which click at once) apart.

In the default mode (``aggregate``) the rewritten links are the same for every recipient of a
variant, so rewriting happens once per variant with the rest of the compose-once work. With
``per_reader`` each link also carries the ``reader`` slot (``/r/{token}/{reader}``), which the
per-recipient substitution fills with a token naming the subscriber (purpose ``reader``), one
HMAC per recipient. Links that are never rewritten: the unsubscribe and preferences links (they
hold a slot marker), any link to this service's own pages (the web version, the archive: a
redirect through ourselves to ourselves would only add a hop), ``mailto:`` and anything not http(s).

Only the HTML part is rewritten: the plain-text part keeps the article links as readers can
read and type them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from mailer.compose.message import SLOTS, Rendered
from mailer.core.errors import InvalidToken
from mailer.core.signing import Keyring

Mode = Literal["off", "aggregate", "per_reader"]
MAX_TARGET = 2000  # characters of a target URL; longer links are left as they are
OWN_PAGES = ("/u/", "/p/", "/r/", "/o/", "/archive/")  # never tracked: personal, or the web version
_DIGEST_CHARS = 16
_LINK = re.compile(r"([1-9][0-9]{0,17})\.(0|[1-9][0-9]{0,17})\.([0-9]{1,12})\.([A-Za-z0-9_-]{16})")
_OPEN = re.compile(r"([1-9][0-9]{0,17})\.([0-9]{1,12})")
_READER = re.compile(r"([1-9][0-9]{0,17})\.([1-9][0-9]{0,17})")
# an <a> tag's href, as Jinja2 and premailer (lxml) write it: double-quoted
_HREF = re.compile(r'(<a\b[^>]*?\shref=")([^"]*)(")', re.IGNORECASE)


@dataclass(frozen=True)
class Click:
    """What a valid tracked link names."""

    edition_id: int
    article_id: int  # 0: a link that is no article of the edition (the site, the archive)
    since: int  # seconds since the epoch when the edition began to go out


@dataclass(frozen=True)
class Tracker:
    """How one edition's links are rewritten: the same for every variant and recipient."""

    keyring: Keyring
    base_url: str
    edition_id: int
    since: int
    articles: Mapping[str, int]  # an article's URL as written in the mail -> its id
    per_reader: bool = False
    opens: bool = False

    def link(self, url: str) -> str:
        article = self.articles.get(url, 0)
        token = link_token(self.keyring, self.edition_id, article, self.since, url)
        reader = f"/{SLOTS['reader']}" if self.per_reader else ""
        return f"{self.base_url}/r/{token}{reader}?u={quote(url, safe='')}"

    def pixel(self) -> str:
        token = self.keyring.sign("open", f"{self.edition_id}.{self.since}")
        reader = f"/{SLOTS['reader']}" if self.per_reader else ""
        return f"{self.base_url}/o/{token}{reader}"


def url_digest(url: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(url.encode()).digest()).decode()[:_DIGEST_CHARS]


def link_token(keyring: Keyring, edition_id: int, article_id: int, since: int, url: str) -> str:
    return keyring.sign("click", f"{edition_id}.{article_id}.{since}.{url_digest(url)}")


def check_link(keyring: Keyring, token: str, url: str) -> Click:
    """What a tracked link names, if ``token`` was made by us for exactly ``url``; anything else
    (forged, cut, another target, another purpose) raises ``InvalidToken``."""
    match = _LINK.fullmatch(keyring.verify("click", token))
    if not match:
        raise InvalidToken("unexpected payload")
    if not hmac.compare_digest(match[4], url_digest(url)):
        raise InvalidToken("another target")
    return Click(int(match[1]), int(match[2]), int(match[3]))


def check_open(keyring: Keyring, token: str) -> Click:
    match = _OPEN.fullmatch(keyring.verify("open", token))
    if not match:
        raise InvalidToken("unexpected payload")
    return Click(int(match[1]), 0, int(match[2]))


def reader_token(keyring: Keyring, edition_id: int, subscriber_id: int) -> str:
    """The per-recipient part of a per-reader link: names the subscriber, for one edition only."""
    return keyring.sign("reader", f"{edition_id}.{subscriber_id}")


def check_reader(keyring: Keyring, token: str, edition_id: int) -> int:
    """The subscriber a reader token names, if it was made for ``edition_id``."""
    match = _READER.fullmatch(keyring.verify("reader", token))
    if not match or int(match[1]) != edition_id:
        raise InvalidToken("another edition")
    return int(match[2])


def _untracked(url: str, base_url: str) -> bool:
    if not url.lower().startswith(("http://", "https://")) or len(url) > MAX_TARGET:
        return True  # mailto:, tel:, fragments, and anything we do not understand
    if any(marker in url for marker in SLOTS.values()):
        return True  # the personal links (unsubscribe, preferences) hold a slot marker
    # this service's own pages (it may share a host with the site's articles, so by path)
    return url.startswith(tuple(f"{base_url}{path}" for path in OWN_PAGES))


def rewrite_html(text: str, tracker: Tracker) -> str:
    """Every trackable ``<a href>`` of ``text`` rewritten to a tracked link, and the open pixel
    added when asked for."""

    def replace(match: re.Match[str]) -> str:
        url = html.unescape(match[2]).strip()
        if _untracked(url, tracker.base_url):
            return match[0]
        return f"{match[1]}{html.escape(tracker.link(url), quote=True)}{match[3]}"

    out = _HREF.sub(replace, text)
    if tracker.opens:
        pixel = (f'<img src="{html.escape(tracker.pixel(), quote=True)}" width="1" height="1" alt="" '
                 'style="display:block;width:1px;height:1px;border:0">')
        at = out.lower().rfind("</body")
        out = f"{out[:at]}{pixel}{out[at:]}" if at >= 0 else out + pixel
    return out


def track(rendered: Rendered, tracker: Tracker | None) -> Rendered:
    """The variant as it is sent: its HTML links tracked (``None``: tracking is off)."""
    if tracker is None:
        return rendered
    return Rendered(rendered.subject, rewrite_html(rendered.html, tracker), rendered.text)
