"""The share e-mail: rendered and inlined once per article, then made per share by filling the
sender's name, the optional note and the recipient's stop link. Pure: no clock, session or socket.

``preview_share`` is the whole thing in one call; ``preview_message`` the same from content already
rendered, for editor previews, which render in a thread.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage

from mailer.compose.message import SLOTS, Personal, Rendered, build_message
from mailer.compose.render import PREHEADER_CHARS, ArticleView, Renderer
from mailer.core.arabic import cut_at_word, isolate_html
from mailer.core.headers import Identity, guard
from mailer.core.models import Article
from mailer.core.settings import Settings
from mailer.shares.checks import address_key, check_recipient
from mailer.shares.tokens import stop_token

KIND = "share"
# Slot markers for the note, filled here (compose.py fills the name, the address and the token).
NOTE_MARKERS = {"html": "mailersharenotehtmlzq", "text": "mailersharenotetextzq"}
PREVIEW_SENDER = "قارئ من الموقع"
PREVIEW_RECIPIENT = "friend@example.com"


def share_identity(settings: Settings) -> Identity:
    """``From`` is always the site: a reader's address there would fail DMARC (and invite abuse)."""
    return Identity.for_list(settings, KIND)


def stop_url(base_url: str, token: str) -> str:
    return f"{base_url}/share/stop/{token}"


def article_view(article: Article, section: str | None = None) -> ArticleView:
    """The article as the share template sees it; nothing in it can aim at a note slot."""
    view = ArticleView(
        id=article.id, title=article.title, url=article.url, summary=article.summary_text,
        image_url=article.image_url, image_alt=article.image_alt, section=section,
    )
    changes = {}
    for name in ("title", "summary", "image_alt", "section"):
        value = getattr(view, name)
        if value and any(m in value for m in NOTE_MARKERS.values()):
            for marker in NOTE_MARKERS.values():
                value = value.replace(marker, "")
            changes[name] = value
    return replace(view, **changes) if changes else view


def render_share(
    renderer: Renderer, identity: Identity, article: ArticleView, *, with_note: bool, site_url: str | None = None
) -> Rendered:
    """The content every share of ``article`` has in common; premailer runs here, once."""
    context = {
        "article": article,
        "with_note": with_note,
        "note": NOTE_MARKERS["text"],  # the html template's copy is swapped below
        "stop_url": stop_url(identity.base_url, SLOTS["token"]),
        "preheader": cut_at_word(article.summary or article.title, PREHEADER_CHARS),
    }
    rendered = renderer.render(KIND, identity, context, site_url=site_url)
    # one template variable serves both parts; in the HTML the note is filled escaped
    return replace(rendered, html=rendered.html.replace(NOTE_MARKERS["text"], NOTE_MARKERS["html"]))


def compose_share(
    content: Rendered,
    identity: Identity,
    *,
    recipient: str,
    sender_name: str,
    stop: str,
    date: datetime,
    message_id: str,
    note: str = "",
    reply_to: str | None = None,
) -> EmailMessage:
    """One share message. ``sender_name`` and ``note`` must have passed ``share_checks``; they go
    into the body only, never into a header. ``stop`` is the recipient's stop token."""
    filled = replace(
        content,
        html=content.html.replace(NOTE_MARKERS["html"], isolate_html(note)),
        text=content.text.replace(NOTE_MARKERS["text"], note),
    )
    personal = Personal(to=recipient, message_id=message_id, token=stop, name=sender_name)
    msg = build_message(filled, identity, date, personal, kind=KIND, list_headers=False, reply_to=reply_to)
    # Gmail and Yahoo show "unsubscribe" for this header; here it stops shares to this address.
    # Set raw: folded by the policy, a URL longer than a line would become an encoded word.
    msg.set_raw("List-Unsubscribe", guard("stop", f"<{stop_url(identity.base_url, stop)}>"))
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return msg


def preview_share(
    settings: Settings,
    renderer: Renderer,
    article: ArticleView,
    *,
    date: datetime,
    sender_name: str = PREVIEW_SENDER,
    recipient: str = PREVIEW_RECIPIENT,
    note: str = "",
) -> EmailMessage:
    """The share e-mail of ``article`` as a friend would get it (CLI, tests), in one call."""
    content = render_share(renderer, share_identity(settings), article, with_note=bool(note))
    return preview_message(settings, content, article.id, date=date, sender_name=sender_name, recipient=recipient,
                           note=note)


def preview_message(
    settings: Settings,
    content: Rendered,
    article_id: int,
    *,
    date: datetime,
    sender_name: str = PREVIEW_SENDER,
    recipient: str = PREVIEW_RECIPIENT,
    note: str = "",
) -> EmailMessage:
    """The share e-mail made of content already rendered (editor previews render it in a thread)."""
    identity = share_identity(settings)
    address = check_recipient(recipient)
    return compose_share(
        content, identity, recipient=address.ascii or address.normalized, sender_name=sender_name,
        stop=stop_token(settings.keyring, address_key(address)), date=date,
        message_id=f"share-preview.{article_id}", note=note,
    )
