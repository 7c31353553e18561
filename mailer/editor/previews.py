"""Previews of every kind of e-mail, built by the very code that composes what is sent.

(Longer than most modules: the built-in kinds live beside the registry and the ``Preview`` they
make, so that a newcomer reads one kind end to end in one file.)

A previewable kind is any object with a ``name``, an Arabic ``label``, a ``ref_label`` (what its
``ref`` names) and ``async build(ctx, ref, options) -> Preview``; ``default_kinds()`` lists the
ones the editor pages and ``mailer preview`` offer. Built in:

* ``digest``: the next edition of a list (``ref`` = list name), rendered fresh from its draft row
  with ``Renderer.digest`` and premailer, exactly as the sender will render it; never stored,
  since ``edition_variants`` is the record of what was sent;
* ``edition``: any edition (``ref`` = id); what went out is read back from ``edition_variants``.

* ``share``: the share e-mail of any article (``ref`` = article id), by ``share_mail``;
* ``confirm``, ``confirm_address``, ``welcome``: subscriber notices of a list, by ``notices``;
* ``alert``: the breaking-news alert of any article (``ref`` = article id).

Another kind plugs in through ``default_kinds``: a ``TripletKind`` (a function that builds the
template context for a ``ref``) or a kind whose ``Preview`` calls its own composer.

Rendering (Jinja2 and premailer) happens in ``build``, in a render thread (``core.offload``);
a ``Preview`` holds rendered content, and making its message is MIME encoding only.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol

from cachetools import LRUCache
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.articles.site import home_url
from mailer.compose import notices
from mailer.compose.message import Personal, Rendered, build_message, to_bytes
from mailer.compose.render import ArticleView, DigestView, Renderer
from mailer.compose.variants import digest_view, stored_variant
from mailer.core import arabic
from mailer.core.db import Database
from mailer.core.errors import Conflict, InvalidInput, NotFound
from mailer.core.headers import Identity
from mailer.core.models import ALERT, Article, Edition, EditionArticle, EditionVariant, Section
from mailer.core.offload import off_loop
from mailer.core.settings import Settings
from mailer.delivery import outbox
from mailer.editions import claims, curation
from mailer.editions.alerts import NO_ALERT_LIST
from mailer.editions.planning import ALL_SECTIONS, variant_key, variant_sections
from mailer.editor.checks import Check, check_message, spam_check
from mailer.editor.rendering import PreviewRenderer
from mailer.editor.spamcheck import SpamResult, spam_score
from mailer.shares import mail
from subscribers import store
from subscribers.models import Subscriber, SubscriberList, SubscriberSection

# unsubscribe/preference links in previews and tests lead nowhere
PLACEHOLDER_TOKEN = "preview"  # noqa: S105  (a visible stand-in, not a secret)
PREVIEW_TO = "reader@example.com"
TEST_HEADER = "X-Mailer-Test"


@dataclass(frozen=True)
class Reader:
    """A subscriber to preview as: their name in the greeting, their sections' variant."""

    email: str
    name: str | None
    sections: frozenset[int]
    subscriber_id: int


@dataclass(frozen=True)
class ArticleLine:
    id: int
    title: str
    section: str | None
    excluded: bool
    sent_in: int | None = None  # another edition of the list that carried it


@dataclass(frozen=True)
class DigestFacts:
    """What the digest panel of the preview page shows beside the message."""

    edition_id: int
    list_name: str
    list_label: str
    status: str
    status_label: str
    status_reason: str | None
    scheduled_at: datetime
    scheduled_text: str
    upcoming: bool
    stored: bool  # read back from edition_variants (what was sent), not rendered now
    articles: tuple[ArticleLine, ...]
    excluded: tuple[ArticleLine, ...]
    sent_elsewhere: tuple[ArticleLine, ...]  # went out in other editions: never sent again
    recipients: int
    counts: Mapping[str, int]
    variant: str
    variants: tuple[tuple[str, str], ...]  # (key, Arabic label)
    curated_by: str | None
    editable: bool
    due: bool  # its scheduled time has passed


Compose = Callable[[Personal, datetime], EmailMessage]


@dataclass(frozen=True)
class Preview:
    """One e-mail ready to show: ``compose`` is the sending code's own composer for it."""

    kind: str
    ref: str
    title: str
    compose: Compose
    date: datetime
    # where the message's unsubscribe link must point for a recipient; None: a one-off message
    unsubscribe: Callable[[Personal], str] | None = None
    reader: Reader | None = None
    digest: DigestFacts | None = None

    def message(self, personal: Personal, *, date: datetime | None = None) -> EmailMessage:
        return self.compose(personal, date or self.date)


def rendered_preview(
    kind: str, ref: str, title: str, rendered: Rendered, identity: Identity, date: datetime, *,
    list_headers: bool = True, reply_to: str | None = None, **extra: Any,
) -> Preview:
    """A preview of content composed by ``compose.build_message`` (digests, template triplets)."""

    mail_kind = "digest" if kind in ("digest", "edition") else kind

    def compose(personal: Personal, when: datetime) -> EmailMessage:
        return build_message(rendered, identity, when, personal, kind=mail_kind, list_headers=list_headers,
                             reply_to=reply_to)

    def unsubscribe(personal: Personal) -> str:
        return identity.unsubscribe_url(personal.token)

    return Preview(kind, ref, title, compose, date, unsubscribe if list_headers else None, **extra)


@dataclass(frozen=True)
class PreviewContext:
    db: Database
    settings: Settings
    renderer: PreviewRenderer
    now: datetime


class PreviewKind(Protocol):
    name: str
    label: str
    ref_label: str

    async def build(self, ctx: PreviewContext, ref: str, options: Mapping[str, str]) -> Preview: ...


def local_time_text(moment: datetime, settings: Settings) -> str:
    """E.g. "الأربعاء، 25 نوفمبر 2026، الساعة 07:00 (Asia/Baghdad)"."""
    local = moment.astimezone(settings.tz)
    day = arabic.gregorian_date(local.date(), locale=settings.date_locale, style=settings.digits)
    clock = arabic.digits(local.strftime("%H:%M"), settings.digits)
    return f"{day}، الساعة {clock} ({settings.timezone})"


async def reader_by_email(session: AsyncSession, email: str) -> Reader:
    sub = await store.by_email(session, email)
    if sub is None:
        raise NotFound(f"no subscriber {email!r}", public_message="لا يوجد مشترك بهذا العنوان.")
    sections = await session.scalars(
        select(SubscriberSection.section_id).where(SubscriberSection.subscriber_id == sub.id)
    )
    return Reader(sub.email_ascii or sub.email, sub.name, frozenset(sections.all()), sub.id)


async def _article_lines(session: AsyncSession, edition_id: int) -> list[tuple[ArticleLine, int | None]]:
    stmt = (
        select(Article.id, Article.title, Article.section_id, Section.name, EditionArticle.excluded)
        .join(EditionArticle, EditionArticle.article_id == Article.id)
        .outerjoin(Section, Section.id == Article.section_id)
        .where(EditionArticle.edition_id == edition_id)
        .order_by(EditionArticle.position)
    )
    elsewhere = await claims.sent_elsewhere(session, edition_id)
    return [
        (ArticleLine(aid, title, section, excluded, elsewhere.get(aid)), section_id)
        for aid, title, section_id, section, excluded in await session.execute(stmt)
    ]


def recipients_count(list_name: str, present: frozenset[int | None], dialect: str) -> tuple[Select[int], ...]:
    """Counts whose first less the others is the number of confirmed subscribers of the list who
    get something: no sections chosen, or one present. Walked from the list's range of
    ``subscriber_lists``' key, each member looked up by key: joined to ``subscribers``, SQLite
    walked every confirmed subscriber of every list (a second for a list of one among
    2,000,000). PostgreSQL cannot make joins of an ``OR`` of two ``EXISTS`` and probed the
    sections' index twice a member (1.7 s for 1,000,000); the list less those whose sections
    all miss is two counts of plain semi- and anti-joins (0.46 s). SQLite is faster in one."""
    member = SubscriberList.subscriber_id
    members = (select(func.count()).select_from(SubscriberList).where(
        SubscriberList.list_name == list_name,
        exists().where(Subscriber.id == member, Subscriber.status == "confirmed")))
    chose = exists().where(SubscriberSection.subscriber_id == member)
    matches = exists().where(SubscriberSection.subscriber_id == member,
                             SubscriberSection.section_id.in_([s for s in present if s is not None]))
    if dialect == "postgresql":
        return members, members.where(chose, ~matches)
    return (members.where(or_(~chose, matches)),)


async def _recipients(session: AsyncSession, list_name: str, present: frozenset[int | None]) -> int:
    first, *less = recipients_count(list_name, present, session.get_bind().dialect.name)
    return int(await session.scalar(first) or 0) - sum([int(await session.scalar(count) or 0) for count in less])


def _carried(line: ArticleLine) -> bool:
    return not line.excluded and line.sent_in is None


def _variant_label(key: str, names: Mapping[int, str]) -> str:
    sections = variant_sections(key)
    if sections is None:
        return "كل الأقسام"
    return "، ".join(names.get(s, str(s)) for s in sorted(sections)) or "بلا أقسام"


async def digest_preview(
    ctx: PreviewContext, edition_id: int, options: Mapping[str, str], *, upcoming: bool
) -> Preview:
    settings = ctx.settings
    async with ctx.db.transaction() as session:
        edition = await session.get(Edition, edition_id)
        if edition is None:
            raise NotFound(f"no edition {edition_id}", public_message="هذا العدد غير موجود.")
        if edition.status == "empty":
            raise Conflict(f"edition {edition_id} had no articles",
                           public_message="لم يكن في هذا العدد أي خبر، فلم يُرسَل.")
        lines = await _article_lines(session, edition.id)
        names = {sid: line.section for line, sid in lines if sid is not None and line.section}
        present = frozenset(sid for line, sid in lines if _carried(line))
        reader = await reader_by_email(session, options["as"]) if options.get("as") else None
        stored_keys = tuple(
            (await session.scalars(
                select(EditionVariant.variant_key)
                .where(EditionVariant.edition_id == edition.id)
                .order_by(EditionVariant.id)
            )).all()
        )
        if reader is not None:
            key = variant_key(reader.sections, present)
            if not key:
                raise Conflict("the reader gets nothing from this edition",
                               public_message="لن يصل هذا القارئ شيء من هذا العدد: لا أخبار في الأقسام التي اختارها.")
        else:
            key = options.get("variant") or (ALL_SECTIONS if ALL_SECTIONS in stored_keys or not stored_keys
                                             else stored_keys[0])
            try:
                variant_sections(key)
            except ValueError:
                raise InvalidInput("variant", f"{key!r} is not a variant key") from None
        sent = edition.status in ("sending", "sent")
        content = await stored_variant(session, edition.id, key) if sent else None
        view = None if content is not None else await digest_view(session, settings, edition, key)
        recipients = await _recipients(session, edition.list_name, present)
        counts = (await outbox.counts(session, [edition.id])).get(edition.id, {})
    identity = Identity.for_list(settings, edition.list_name)
    if content is None:
        assert view is not None
        content = await ctx.renderer.digest(view, identity)
    choices = stored_keys if sent else (ALL_SECTIONS, *(str(s) for s in sorted(s for s in present if s is not None)))
    label = identity.list_label
    facts = DigestFacts(
        edition_id=edition.id,
        list_name=edition.list_name,
        list_label=label,
        status=edition.status,
        status_label=curation.STATUS_LABELS.get(edition.status, edition.status),
        status_reason=edition.status_reason,
        scheduled_at=edition.scheduled_at,
        scheduled_text=local_time_text(edition.scheduled_at, settings),
        upcoming=upcoming,
        stored=sent and key in stored_keys,
        articles=tuple(line for line, _ in lines if _carried(line)),
        excluded=tuple(line for line, _ in lines if line.excluded and line.sent_in is None),
        sent_elsewhere=tuple(line for line, _ in lines if line.sent_in is not None),
        recipients=recipients,
        counts=counts,
        variant=key,
        variants=tuple((k, _variant_label(k, names)) for k in choices),
        curated_by=edition.curated_by,
        editable=edition.status in curation.EDITABLE,
        due=edition.scheduled_at <= ctx.now,
    )
    title = f"{label}: {'العدد القادم' if upcoming else 'العدد ' + edition.period_key}"
    return rendered_preview(
        "digest" if upcoming else "edition", edition.list_name if upcoming else str(edition.id), title,
        content, identity, edition.started_at or edition.scheduled_at, reader=reader, digest=facts,
    )


def _number(ref: str, what: str, public_message: str) -> int:
    """A ``ref`` that names a row by its number."""
    if not (ref.isascii() and ref.isdigit()):
        raise InvalidInput("ref", f"{ref!r} is not {what}", public_message=public_message)
    return int(ref)


class UpcomingDigest:
    name = "digest"
    label = "العدد القادم من النشرة"
    ref_label = "النشرة"

    async def build(self, ctx: PreviewContext, ref: str, options: Mapping[str, str]) -> Preview:
        async with ctx.db.transaction() as session:
            edition = await curation.open_upcoming(session, ctx.settings, ref, ctx.now)
        return await digest_preview(ctx, edition.id, options, upcoming=True)


class PastEdition:
    name = "edition"
    label = "عدد من النشرة"
    ref_label = "رقم العدد"

    async def build(self, ctx: PreviewContext, ref: str, options: Mapping[str, str]) -> Preview:
        edition_id = _number(ref, "an edition number", "رقم العدد غير صالح.")
        return await digest_preview(ctx, edition_id, options, upcoming=False)


@dataclass(frozen=True)
class TripletInput:
    """What a plugged-in kind supplies for one ``ref``: the context of its templates."""

    title: str  # Arabic heading of the preview page
    context: Mapping[str, Any]
    identity: Identity
    list_name: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class TripletKind:
    """A kind rendered from its ``templates/email/{name}.*`` triplet by ``Renderer.render``."""

    name: str
    label: str
    inputs: Callable[[PreviewContext, str], Awaitable[TripletInput]]
    ref_label: str = "المعرّف"
    list_headers: bool = False  # bulk mail: List-* headers, and an unsubscribe link is required

    async def build(self, ctx: PreviewContext, ref: str, options: Mapping[str, str]) -> Preview:
        data = await self.inputs(ctx, ref)
        rendered = await ctx.renderer.render(self.name, data.identity, data.context, data.list_name)
        return rendered_preview(self.name, ref, data.title, rendered, data.identity, ctx.now,
                                list_headers=self.list_headers, reply_to=data.reply_to)


class SharePreview:
    """The share e-mail of any article, as a friend would get it (``ref`` = article id)."""

    name = "share"
    label = "رسالة «أرسل الخبر إلى صديق»"
    ref_label = "رقم الخبر"

    async def build(self, ctx: PreviewContext, ref: str, options: Mapping[str, str]) -> Preview:
        article_id = _number(ref, "an article id", "رقم الخبر غير صالح.")
        async with ctx.db.transaction() as session:
            row = (await session.execute(
                select(Article, Section.name)
                .outerjoin(Section, Section.id == Article.section_id)
                .where(Article.id == article_id)
            )).first()
            site_url = await home_url(session, ctx.settings)
        if row is None:
            raise NotFound(f"no article {ref!r}", public_message="لا يوجد خبر بهذا الرقم.")
        view = mail.article_view(*row)
        content = await ctx.renderer.share(view, site_url)

        def compose(personal: Personal, when: datetime) -> EmailMessage:
            return mail.preview_message(ctx.settings, content, view.id, date=when, recipient=personal.to)

        return Preview(self.name, ref, f"مشاركة: {row[0].title}", compose, ctx.now)


@dataclass
class NoticePreview:
    """A subscriber notice (confirmation, address change, welcome) of a list (``ref`` = list)."""

    name: str
    label: str
    ref_label: str = "النشرة"

    async def build(self, ctx: PreviewContext, ref: str, options: Mapping[str, str]) -> Preview:
        lists = ctx.settings.lists
        if ref not in lists:
            raise InvalidInput("ref", f"{ref!r} is not a list ({', '.join(lists)})",
                               public_message="اختر إحدى النشرات: " + "، ".join(v.name for v in lists.values()) + ".")
        identity = Identity.for_list(ctx.settings, ref)
        async with ctx.db.transaction() as session:
            site_url = await home_url(session, ctx.settings)
        rendered = await ctx.renderer.notice(self.name, identity, site_url)
        return rendered_preview(self.name, ref, f"{self.label}: {identity.list_label}", rendered, identity,
                                ctx.now, list_headers=notices.LIST_HEADERS[self.name])


class AlertPreview:
    """The breaking-news alert of an article (``ref`` = article id), as the first immediate list
    (or ``options["list"]``) would send it; the page beside it has the editor's send button."""

    name = "alert"
    label = "تنبيه «خبر عاجل»"
    ref_label = "رقم الخبر"

    async def build(self, ctx: PreviewContext, ref: str, options: Mapping[str, str]) -> Preview:
        article_id = _number(ref, "an article id", "رقم الخبر غير صالح.")
        immediate = ctx.settings.immediate_lists
        if not immediate:
            raise Conflict("no immediate list is configured", public_message=NO_ALERT_LIST)
        list_name = options.get("list") or immediate[0]
        if list_name not in immediate:
            raise InvalidInput("list", f"{list_name!r} is not an immediate list ({', '.join(immediate)})")
        async with ctx.db.transaction() as session:
            row = (await session.execute(
                select(Article, Section.name).outerjoin(Section, Section.id == Article.section_id)
                .where(Article.id == article_id)
            )).first()
        if row is None:
            raise NotFound(f"no article {ref!r}", public_message="لا يوجد خبر بهذا الرقم.")
        article, section = row
        view = DigestView(list_name, ctx.now.astimezone(ctx.settings.tz).date(), (ArticleView(
            id=article.id, title=article.title, url=article.url, summary=article.summary_text,
            image_url=article.image_url, image_alt=article.image_alt, section=section, breaking=True,
        ),), kind=ALERT)
        identity = Identity.for_list(ctx.settings, list_name)
        content = await ctx.renderer.digest(view, identity)
        sent = f" (أُرسل في {local_time_text(article.breaking_at, ctx.settings)})" if article.breaking_at else ""
        return rendered_preview(self.name, ref, f"خبر عاجل: {article.title}{sent}", content, identity, ctx.now)



def default_kinds() -> list[PreviewKind]:
    """The previewable kinds; a new kind of e-mail plugs in here (see ``TripletKind``)."""
    return [
        UpcomingDigest(),
        PastEdition(),
        SharePreview(),
        NoticePreview("confirm", "رسالة تأكيد الاشتراك"),
        NoticePreview("confirm_address", "رسالة تأكيد العنوان الجديد"),
        NoticePreview("welcome", "رسالة الترحيب"),
        AlertPreview(),
    ]


@dataclass
class Previews:
    """The registry of kinds plus the caches; one per process (web app or CLI command)."""

    settings: Settings
    renderer: Renderer
    kinds: list[PreviewKind] = field(default_factory=default_kinds)
    spam_cache_size: int = 32

    def __post_init__(self) -> None:
        self.cache = PreviewRenderer(self.renderer)
        self.registry = {k.name: k for k in self.kinds}
        self._spam: LRUCache[str, SpamResult] = LRUCache(self.spam_cache_size)

    def default_ref(self, kind: str) -> str:
        """What a preview of ``kind`` shows when no ``ref`` is given: the first scheduled list's next digest."""
        scheduled = self.settings.scheduled_lists
        return scheduled[0] if kind == "digest" and scheduled else ""

    def kind(self, name: str) -> PreviewKind:
        found = self.registry.get(name)
        if found is None:
            raise NotFound(f"no previewable kind {name!r} (available: {', '.join(self.registry)})",
                           public_message="معاينة هذا النوع من الرسائل غير متاحة بعد.")
        return found

    async def build(
        self, db: Database, kind: str, ref: str, options: Mapping[str, str], now: datetime
    ) -> Preview:
        ctx = PreviewContext(db, self.settings, self.cache, now)
        return await self.kind(kind).build(ctx, ref, options)

    @staticmethod
    def personal(preview: Preview, *, to: str, message_id: str = "preview") -> Personal:
        """The personal parts of a preview: the reader's name if previewing as one, links that
        lead nowhere (a click in a preview or a test must never unsubscribe anyone)."""
        reader = preview.reader
        return Personal(to=to, message_id=message_id, token=PLACEHOLDER_TOKEN,
                        pref_token=PLACEHOLDER_TOKEN, name=reader.name if reader else None)

    def shown(self, preview: Preview, *, to: str = PREVIEW_TO) -> EmailMessage:
        """The message as the page shows it: to the reader previewed as, else to ``to``."""
        reader = preview.reader
        return preview.message(self.personal(preview, to=reader.email if reader else to))

    def test_message(self, preview: Preview, *, to: str, editor: str, now: datetime) -> tuple[bytes, str]:
        """The same message, to the editor, dated now and marked as a test; (bytes, Message-ID)."""
        msg = preview.message(self.personal(preview, to=to, message_id=f"test.{secrets.token_hex(8)}"),
                              date=now)
        msg[TEST_HEADER] = f"test send requested by editor {editor}"
        return to_bytes(msg), str(msg["Message-ID"])

    async def checks(self, preview: Preview, msg: EmailMessage, *, spam: bool = True) -> list[Check]:
        """The checks of the preview page; parsing a large digest takes milliseconds, so in a
        render thread."""
        url = preview.unsubscribe(self.personal(preview, to=PREVIEW_TO)) if preview.unsubscribe else None
        found = await off_loop(check_message, msg, unsubscribe_url=url,
                               needs_unsubscribe=preview.unsubscribe is not None)
        if spam:
            found.append(spam_check(await self.spam(msg)))
        return found

    async def spam(self, msg: EmailMessage) -> SpamResult:
        """SpamAssassin's verdict (about 0.65 s of Perl a run), kept for the same message: the
        key leaves out the MIME boundaries, which are drawn at random each time a message is
        made, so keyed by the bytes alone the same preview never hit and every load ran it."""
        data, key = await off_loop(_spam_input, msg)
        cached = self._spam.get(key)
        if cached is not None:
            return cached
        result = await spam_score(data, self.settings.spamassassin_command, self.settings.spam_check_timeout)
        if result.status in ("scored", "missing"):  # a timeout or an error is worth another try
            self._spam[key] = result
        return result


def _spam_input(msg: EmailMessage) -> tuple[bytes, str]:
    """The message's bytes, and their hash with its MIME boundaries left out."""
    data = to_bytes(msg)  # sets the boundaries it draws on the message's parts
    keyed = data
    for part in msg.walk():
        boundary = part.get_boundary()
        if boundary:
            keyed = keyed.replace(boundary.encode(), b"")
    return data, hashlib.sha256(keyed).hexdigest()
