"""Edition variants: rendered and inlined once, stored, then built into a ``MessageTemplate`` once
per process. Every worker sends the stored content, so all recipients of a variant get the same
message and previews of past editions show exactly what went out.

The sender calls this between SMTP sessions of other batches: rendering and building run in a
render thread (``core.offload``), never on the event loop."""

from __future__ import annotations

from cachetools import LRUCache
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.articles.site import home_url
from mailer.compose.message import MessageTemplate, Rendered
from mailer.compose.render import ArticleView, DigestView, Renderer
from mailer.compose.tracking import Tracker, track
from mailer.core.db import insert
from mailer.core.headers import Identity
from mailer.core.memo import Memo
from mailer.core.models import Article, Edition, EditionArticle, EditionVariant
from mailer.core.offload import off_loop
from mailer.core.settings import Settings
from mailer.editions import claims
from mailer.editions.planning import article_rows, variant_sections


async def digest_view(session: AsyncSession, settings: Settings, edition: Edition, key: str) -> DigestView:
    """What the digest templates need of one variant (``ALL_SECTIONS``: every article)."""
    sections = variant_sections(key)
    articles = tuple(
        ArticleView(
            id=a.id, title=a.title, url=a.url, summary=a.summary_text, image_url=a.image_url,
            image_alt=a.image_alt, section=section_name, breaking=a.breaking_at is not None,
        )
        for a, section_name in await article_rows(session, edition.id)
        if sections is None or a.section_id in sections
    )
    identity = Identity.for_list(settings, edition.list_name)
    return DigestView(
        edition.list_name, edition.scheduled_at.astimezone(settings.tz).date(), articles, kind=edition.kind,
        site_url=await home_url(session, settings), web_url=identity.web_url(edition.id),
        archive_url=identity.archive_url(), subject_style=settings.digest_subject_for(edition.list_name),
    )


async def rendered_variant(
    session: AsyncSession, settings: Settings, renderer: Renderer, edition: Edition, key: str
) -> Rendered:
    """The stored content of a variant, rendering and storing it first if nobody has yet."""
    stored = await stored_variant(session, edition.id, key)
    if stored is None:
        view = await digest_view(session, settings, edition, key)
        content = await off_loop(renderer.digest, view, Identity.for_list(settings, edition.list_name))
        await session.execute(
            insert(session, EditionVariant)
            .values(edition_id=edition.id, variant_key=key, subject=content.subject,
                    html=content.html, text=content.text)
            .on_conflict_do_nothing(index_elements=["edition_id", "variant_key"])
        )
        stored = await stored_variant(session, edition.id, key)
        assert stored is not None
    return stored


async def edition_tracker(session: AsyncSession, settings: Settings, edition: Edition) -> Tracker | None:
    """How one edition's links are rewritten, by ``MAILER_TRACKING`` and ``MAILER_TRACK_OPENS``."""
    if settings.tracking == "off":
        return None
    articles = {a.url: a.id for a, _ in await article_rows(session, edition.id)}
    since = edition.started_at or edition.scheduled_at
    return Tracker(
        settings.keyring, settings.base_url, edition.id, int(since.timestamp()), articles,
        per_reader=settings.tracking == "per_reader", opens=settings.track_opens,
    )


async def stored_variant(session: AsyncSession, edition_id: int, key: str) -> Rendered | None:
    row = (
        await session.execute(
            select(EditionVariant.subject, EditionVariant.html, EditionVariant.text).where(
                EditionVariant.edition_id == edition_id, EditionVariant.variant_key == key
            )
        )
    ).first()
    return Rendered(*row) if row else None


class TemplateCache:
    """The per-process cache of built templates, most recently used kept; a variant asked for
    by two batches at once is rendered and built once."""

    def __init__(self, settings: Settings, renderer: Renderer, size: int = 64) -> None:
        self.settings = settings
        self.renderer = renderer
        self._templates: Memo[tuple[int, str], MessageTemplate] = Memo(size)
        self._sections: LRUCache[int, frozenset[int | None]] = LRUCache(size)
        self._trackers: LRUCache[int, Tracker | None] = LRUCache(size)

    async def sections(self, session: AsyncSession, edition_id: int) -> frozenset[int | None]:
        """The sections of an edition's articles, which decide each subscriber's variant; read
        once per edition (its articles no longer change once it is being sent)."""
        present = self._sections.get(edition_id)
        if present is None:
            rows = await session.scalars(
                select(Article.section_id)
                .join(EditionArticle, EditionArticle.article_id == Article.id)
                .where(EditionArticle.edition_id == edition_id, claims.carried())
            )
            present = self._sections[edition_id] = frozenset(rows.all())
        return present

    async def get(self, session: AsyncSession, edition: Edition, key: str) -> MessageTemplate:
        return await self._templates.get((edition.id, key), lambda: self._build(session, edition, key))

    async def tracker(self, session: AsyncSession, edition: Edition) -> Tracker | None:
        """How the edition's links are tracked (``None``: ``MAILER_TRACKING=off``); its articles'
        URLs read once per edition."""
        if self.settings.tracking == "off":
            return None
        if edition.id not in self._trackers:
            self._trackers[edition.id] = await edition_tracker(session, self.settings, edition)
        return self._trackers[edition.id]

    async def content(self, session: AsyncSession, edition: Edition, key: str) -> Rendered:
        """The variant as sent: the stored content with its links tracked (once per variant and
        process; the stored content and the archive keep the plain links)."""
        rendered = await rendered_variant(session, self.settings, self.renderer, edition, key)
        tracker = await self.tracker(session, edition)
        return rendered if tracker is None else await off_loop(track, rendered, tracker)

    async def _build(self, session: AsyncSession, edition: Edition, key: str) -> MessageTemplate:
        content = await self.content(session, edition, key)
        identity = Identity.for_list(self.settings, edition.list_name)
        return await off_loop(
            MessageTemplate.build, content, identity, edition.started_at or edition.scheduled_at, kind=edition.kind
        )
