"""One-off subscriber mail (confirmation, welcome, address-change confirmation), composed.
``mailer.delivery.notifier`` enqueues it as the ``notify`` the subscriber flows are given.

Each kind has a small pure function returning its ``Rendered`` (with slot markers for the
personal parts), which editor previews call too. The confirmation link travels in the ``token``
slot, since a confirmation carries no unsubscribe link.

Notices are composed inside subscribe and confirm requests and CSV imports: rendering and
building run in a render thread (``core.offload``), never on the event loop.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime

from mailer.compose.message import SLOTS, MessageTemplate, Personal, Rendered, build_message, to_bytes
from mailer.compose.render import Renderer
from mailer.core import arabic, message_ids
from mailer.core.headers import Identity
from mailer.core.memo import Memo
from mailer.core.offload import off_loop
from mailer.core.settings import Settings
from subscribers import tokens
from subscribers.flows import Notice


def confirm_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/c/{token}"


def _hours(settings: Settings) -> str:
    return arabic.digits(str(settings.confirm_expiry_hours), settings.digits)


def confirm_rendered(renderer: Renderer, identity: Identity, site_url: str | None = None) -> Rendered:
    """The double opt-in mail: a link to a page whose button confirms."""
    s = renderer.settings
    context = {"confirm_url": confirm_url(s, SLOTS["token"]), "expiry_hours": _hours(s),
               "preheader": "خطوة واحدة باقية: أكّد اشتراكك."}
    return renderer.render("confirm", identity, context, site_url=site_url)


def confirm_address_rendered(renderer: Renderer, identity: Identity, site_url: str | None = None) -> Rendered:
    """Sent to the new address when a subscriber changes theirs."""
    s = renderer.settings
    context = {"confirm_url": confirm_url(s, SLOTS["token"]), "expiry_hours": _hours(s),
               "preheader": "أكّد عنوان بريدك الجديد لنرسل إليه النشرة."}
    return renderer.render("confirm_address", identity, context, site_url=site_url)


def welcome_rendered(renderer: Renderer, identity: Identity, site_url: str | None = None) -> Rendered:
    """After confirming: what they will get, and the preferences and unsubscribe links."""
    return renderer.render("welcome", identity, {"preheader": "تم تأكيد اشتراكك، أهلاً بك."}, site_url=site_url)


RENDERERS: dict[str, Callable[[Renderer, Identity, str | None], Rendered]] = {
    "confirm": confirm_rendered,
    "confirm_address": confirm_address_rendered,
    "welcome": welcome_rendered,
}
LIST_HEADERS = {"confirm": False, "confirm_address": False, "welcome": True}
OFF_LOOP_FROM = 8  # notices at once: from this many, their bytes are made in the render thread


class NoticeComposer:
    """The bytes of each notice. Each kind and list is rendered
    (and its CSS inlined) once per process, and built into a ``MessageTemplate`` once per send
    time, so a bulk import only fills slots; an address that needs SMTPUTF8 takes the reference
    path (``build_message``)."""

    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer
        self._rendered: Memo[tuple[str, str, str | None], Rendered] = Memo(32)  # kinds x lists: a handful
        self._templates: Memo[tuple[str, str, str | None, datetime], MessageTemplate] = Memo(16)

    async def rendered(self, kind: str, list_name: str, site_url: str | None = None) -> Rendered:
        identity = Identity.for_list(self.settings, list_name)
        return await self._rendered.get(
            (kind, list_name, site_url), lambda: off_loop(RENDERERS[kind], self.renderer, identity, site_url)
        )

    async def _template(self, kind: str, list_name: str, site_url: str | None, at: datetime) -> MessageTemplate:
        at = at.replace(microsecond=0)  # the Date header counts seconds: one build a second at most
        rendered = await self.rendered(kind, list_name, site_url)
        identity = Identity.for_list(self.settings, list_name)
        return await self._templates.get((kind, list_name, site_url, at), lambda: off_loop(
            MessageTemplate.build, rendered, identity, at, kind=kind, list_headers=LIST_HEADERS[kind]
        ))

    async def message(self, notice: Notice, site_url: str | None = None, *, installation: str) -> tuple[bytes, str]:
        """The message bytes and the Message-ID of one notice; ``site_url`` is the site's home page,
        ``installation`` this installation's id (see ``mailer.core.message_ids``)."""
        return (await self.messages([notice], site_url, installation=installation))[0]

    async def messages(self, notices: Sequence[Notice], site_url: str | None = None, *,
                       installation: str) -> list[tuple[bytes, str]]:
        """``message`` for many notices (a batch of subscriptions): each kind's template is found
        once, and the per-recipient work (two HMACs, the slots filled) runs in the render thread."""
        templates: dict[tuple[str, str, datetime], MessageTemplate] = {}
        rendered: dict[tuple[str, str], Rendered] = {}
        for notice in notices:
            if notice.recipient.isascii():
                key = (notice.kind, notice.list_name, notice.at)  # one batch: one ``at``
                if key not in templates:
                    templates[key] = await self._template(notice.kind, notice.list_name, site_url, notice.at)
            elif (notice.kind, notice.list_name) not in rendered:
                rendered[notice.kind, notice.list_name] = await self.rendered(notice.kind, notice.list_name, site_url)
        work = [(notice, templates.get((notice.kind, notice.list_name, notice.at)),
                 rendered.get((notice.kind, notice.list_name))) for notice in notices]
        if len(work) < OFF_LOOP_FROM and not rendered:  # tens of microseconds: not worth a thread's trip
            return [self._one(n, t, r, installation) for n, t, r in work]
        return await off_loop(lambda: [self._one(n, t, r, installation) for n, t, r in work])

    def _one(self, notice: Notice, template: MessageTemplate | None, rendered: Rendered | None,
             installation: str) -> tuple[bytes, str]:
        keyring = self.settings.keyring
        if notice.kind == "welcome":
            token = tokens.unsubscribe_token(keyring, notice.subscriber_id, notice.list_name, notice.link_key)
        else:
            token = notice.token or ""
        what = f"{notice.kind.replace('_', '-')}.s{notice.subscriber_id}.{secrets.token_hex(6)}"
        local = message_ids.local_part(keyring, installation, what)
        personal = Personal(
            to=notice.recipient, message_id=local, token=token,
            pref_token=tokens.preferences_token(keyring, notice.subscriber_id, notice.link_key), name=notice.name,
        )
        identity = Identity.for_list(self.settings, notice.list_name)
        if template is not None:
            data = template.personalise(personal)
        else:
            assert rendered is not None
            data = to_bytes(build_message(rendered, identity, notice.at, personal, kind=notice.kind,
                                          list_headers=LIST_HEADERS[notice.kind]))
        return data, identity.message_id(local)
