"""Jinja2 rendering of e-mail triplets (subject, text, html), then CSS inlining once per variant.

Templates live in ``templates/email``: ``{kind}.subject.txt``, ``{kind}.txt`` and ``{kind}.html``,
with a per-list override found first (``email/{list}/{kind}.html``, or the list's ``template``
directory) and an operator's directory
(``MAILER_TEMPLATES_DIR``) searched before the built-in one. Rendering happens in Jinja2's
sandbox with autoescape on for HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

import mailer
from mailer.compose.inline import inline_css
from mailer.compose.layout import news_layout
from mailer.compose.message import SLOTS, Rendered, scrub_markers
from mailer.core import arabic
from mailer.core.headers import Identity
from mailer.core.settings import Settings


def builtin_templates() -> Path:
    """``templates/`` of the source tree, or its copy inside an installed wheel."""
    installed = Path(mailer.__file__).parent / "_templates"
    return installed if installed.is_dir() else Path(mailer.__file__).parents[1] / "templates"


def template_environment(settings: Settings) -> ImmutableSandboxedEnvironment:
    dirs = [builtin_templates()]
    if settings.templates_dir is not None:
        dirs.insert(0, settings.templates_dir)
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader([str(d) for d in dirs]),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # titles and summaries: no bidi markup (the bidi algorithm orders them as the site does)
    env.filters["headline"] = lambda text: Markup(arabic.headline_html(str(text)))  # noqa: S704  (escapes first)
    # what a reader or an editor typed: one isolated run
    env.filters["isolate"] = lambda text: Markup(arabic.isolate_html(str(text)))  # noqa: S704  (escapes first)
    env.filters["digits"] = lambda text: arabic.digits(str(text), settings.digits)
    env.filters["cut"] = lambda text, limit: arabic.cut_at_word(str(text), int(limit))
    return env


PREHEADER_CHARS = 110  # what inboxes show after the subject, give or take


@dataclass(frozen=True)
class ArticleView:
    """An article as the templates see it; strings are scrubbed of slot markers."""

    id: int
    title: str
    url: str
    summary: str = ""
    image_url: str | None = None
    image_alt: str | None = None
    section: str | None = None
    breaking: bool = False  # marked breaking news: a digest labels it, an alert is about it

    def __post_init__(self) -> None:
        for name in ("title", "summary", "image_alt", "section"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, scrub_markers(value))

    @property
    def photo_alt(self) -> str:
        """The image's own description, if the site gave one; else empty: the photo sits beside
        its linked title, so a title as alt text would show twice where images are blocked."""
        alt = (self.image_alt or "").strip()
        return "" if alt == self.title.strip() else alt


@dataclass(frozen=True)
class DigestView:
    list_name: str
    day: date
    articles: tuple[ArticleView, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "digest"  # or "alert": one breaking article (templates/email/alert.*)
    site_url: str | None = None  # the site's home page (``articles.site.home_url``)
    web_url: str | None = None  # the edition's public web version ("view in browser")
    archive_url: str | None = None  # the list's past editions
    subject_style: str = "title"  # ``Settings.digest_subject_for``


_SPACES = re.compile(r"\s+")
_ARABIC_START = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


class Renderer:
    """Renders e-mail kinds for one installation; holds the Jinja2 environment and the CSS."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = template_environment(settings)

    @cached_property
    def css(self) -> str:
        source, _, _ = self.env.loader.get_source(self.env, "email/styles.css")  # type: ignore[union-attr]
        return source

    def warm(self) -> None:
        """Load Babel's locale data now, at start-up: its pickle load holds the GIL for tens of
        milliseconds in one call, which would stall the event loop even from a render thread
        if the first digest of the process paid for it mid-send. Cached by Babel per process."""
        day = date(2000, 1, 1)
        arabic.gregorian_date(day, locale=self.settings.date_locale, style=self.settings.digits)
        _month_name(day, self.settings.date_locale)

    def _template(self, kind: str, list_name: str | None, suffix: str) -> Any:
        names = [f"email/{kind}.{suffix}"]
        if list_name:
            names.insert(0, f"email/{list_name}/{kind}.{suffix}")
        return self.env.select_template(names)

    def common(self, identity: Identity, site_url: str | None) -> dict[str, Any]:
        s = self.settings
        return {
            "site": {"name": s.site_name, "url": site_url or s.site_url, "logo": s.logo_url,
                     "logo_width": s.logo_width},
            "list": {"name": identity.list_name, "label": identity.list_label, "immediate": identity.immediate},
        }

    def render(
        self, kind: str, identity: Identity, context: Mapping[str, Any], *, list_name: str | None = None,
        site_url: str | None = None,
    ) -> Rendered:
        """One triplet with slot markers for the personal parts; premailer runs here, once.
        ``site_url`` is the site's home page when the caller looked it up (else the setting)."""
        ctx = {**self.common(identity, site_url), **context}
        personal = {
            "unsubscribe_url": identity.unsubscribe_url(SLOTS["token"]),
            "preferences_url": identity.preferences_url(SLOTS["pref"]),
        }
        subject = self._template(kind, list_name, "subject.txt").render(
            **ctx, personal={**personal, "name": SLOTS["name_text"]}
        )
        subject = _SPACES.sub(" ", subject).strip()
        if not _ARABIC_START.match(subject):
            subject = arabic.RLM + subject  # keeps the subject right-to-left in every inbox
        text = self._template(kind, list_name, "txt").render(
            **ctx, subject=subject, personal={**personal, "name": SLOTS["name_text"]}
        )
        html = self._template(kind, list_name, "html").render(
            **ctx, subject=subject, personal={**personal, "name": SLOTS["name_html"]}
        )
        return Rendered(subject=subject, html=inline_css(html, self.css), text=arabic.bidi_text(text))

    def digest(self, view: DigestView, identity: Identity, *, web: bool = False) -> Rendered:
        """The digest e-mail, or (``web``) its public web version: no greeting, no personal links."""
        s = self.settings
        layout = news_layout(view.articles)
        lead = layout.lead
        if "preheader" in view.extra:
            preheader = str(view.extra["preheader"])
        elif view.kind == "alert" and lead is not None:
            preheader = lead.summary or lead.title  # the subject is the headline
        elif lead is not None and view.subject_style == "headline":
            preheader = lead.summary or lead.title  # the subject already is the lead headline
        else:
            preheader = lead.title if lead is not None else ""
        context = {
            "articles": view.articles,
            "layout": layout,
            "subject_style": view.subject_style,
            "web": web,
            "web_url": view.web_url,
            "archive_url": view.archive_url,
            "subscribe_url": f"{s.base_url}/subscribe",
            "edition": {
                "date_text": arabic.gregorian_date(view.day, locale=s.date_locale, style=s.digits),
                "date_short": arabic.digits(
                    f"{view.day.day} {_month_name(view.day, s.date_locale)} {view.day.year}", s.digits
                ),
                "hijri_text": (
                    arabic.hijri_date(view.day, offset_days=s.hijri_offset_days, style=s.digits)
                    if s.hijri
                    else ""
                ),
            },
            **view.extra,
            "preheader": arabic.cut_at_word(preheader, PREHEADER_CHARS),
        }
        return self.render(view.kind, identity, context, list_name=identity.template_dir, site_url=view.site_url)


def _month_name(day: date, locale: str) -> str:
    from babel.dates import get_month_names

    return str(get_month_names("wide", locale=locale)[day.month])
