"""Articles in: RSS 2.0 / Atom feeds (feedparser) and the CMS's JSON, sanitised (nh3), upserted.

Parsing is pure and reports each bad entry with its position instead of failing the whole feed;
storing is idempotent on the article's guid (or URL when the feed gives no guid).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import json
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import feedparser
import nh3
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.articles.site import remember_channel
from mailer.core.db import insert, utcnow
from mailer.core.errors import InvalidFeed, InvalidInput
from mailer.core.links import link_keys
from mailer.core.models import Article, Section

ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "a", "ul", "ol", "li", "blockquote",
    "h2", "h3", "h4", "img", "figure", "figcaption", "span", "div",
}
ALLOWED_ATTRIBUTES = {
    "*": {"dir", "lang"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
}
_WS = re.compile(r"\s+")


def sanitise(fragment: str) -> str:
    """Keep harmless markup and every character of the text; drop scripts, styles and handlers."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def to_text(fragment: str) -> str:
    """The text of an HTML fragment, whitespace folded (for summaries, not for whole layouts)."""
    return _WS.sub(" ", html.unescape(nh3.clean(fragment, tags=set()))).strip()


def _http_url(value: str, field_name: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(field_name, f"{value[:200]!r} is not an http(s) URL")
    if any(ch in value for ch in "\r\n\t <>\"") :
        raise InvalidInput(field_name, "contains spaces or characters not allowed in a URL")
    return value


@dataclass(frozen=True)
class ArticleIn:
    guid: str
    url: str
    title: str
    published_at: datetime
    summary_html: str = ""
    body_html: str = ""
    image_url: str | None = None
    image_alt: str | None = None
    author: str | None = None
    section: str | None = None
    status: str = "published"
    breaking: bool = False  # the API's ``breaking: true`` or a breaking category in the feed
    summary_text: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary_html", sanitise(self.summary_html))
        object.__setattr__(self, "body_html", sanitise(self.body_html))
        object.__setattr__(self, "summary_text", to_text(self.summary_html))

    def content_hash(self) -> str:
        data = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    position: str
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


@dataclass
class ParseResult:
    articles: list[ArticleIn]
    problems: list[Problem]
    channel_link: str | None = None  # the site's home page, as the feed names it


def parse_feed(data: bytes, *, now: datetime, breaking_categories: Collection[str] = ()) -> ParseResult:
    """Every good entry of an RSS 2.0 or Atom document; each bad one becomes a ``Problem``. An
    entry with a category in ``breaking_categories`` (case-folded) is breaking news, and that
    category is not taken for its section."""
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    problems: list[Problem] = []
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        where = _exception_position(exc)
        if not parsed.entries:
            raise InvalidFeed("source", f"not a readable RSS or Atom feed ({where}: {exc})")
        problems.append(Problem(where, f"malformed XML, read what could be read ({exc})"))
    if not parsed.entries and not parsed.get("version"):
        raise InvalidFeed("source", "not an RSS or Atom feed (no <rss> or <feed> element)")
    articles: list[ArticleIn] = []
    for index, entry in enumerate(parsed.entries, start=1):
        position = f"entry {index}"
        if entry.get("id") or entry.get("link"):
            position += f" ({entry.get('id') or entry.get('link')})"
        try:
            articles.append(_entry(entry, now, breaking_categories))
        except InvalidInput as exc:
            problems.append(Problem(position, exc.message))
    return ParseResult(articles, problems, _channel_link(parsed.get("feed", {}), problems))


def _channel_link(channel: Any, problems: list[Problem]) -> str | None:
    link = channel.get("link")
    if not link:
        return None
    try:
        return _http_url(link, "channel link")
    except InvalidInput as exc:
        problems.append(Problem("channel", exc.message))
        return None


def _exception_position(exc: Any) -> str:
    line = getattr(exc, "getLineNumber", None)
    col = getattr(exc, "getColumnNumber", None)
    if callable(line) and callable(col):
        return f"line {line()}, column {col()}"
    return "feed"


def _entry(entry: Any, now: datetime, breaking_categories: Collection[str]) -> ArticleIn:
    title = _WS.sub(" ", entry.get("title", "") or "").strip()
    if not title:
        raise InvalidInput("title", "the entry has no title")
    link = entry.get("link")
    if not link:
        raise InvalidInput("link", "the entry has no link")
    url = _http_url(link, "link")
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    published = now
    if stamp:
        try:
            published = _in_range(datetime.fromtimestamp(calendar.timegm(stamp), UTC))
        except (OverflowError, OSError, ValueError):
            raise InvalidInput("published", f"the date {tuple(stamp)[:6]} is out of range (1970 to 9000)") from None
    body = ""
    if entry.get("content"):
        body = entry.content[0].get("value", "")
    terms = [t for t in ((tag.get("term") or "").strip() for tag in entry.get("tags", [])) if t]
    breaking = any(t.casefold() in breaking_categories for t in terms)
    section = next((t for t in terms if t.casefold() not in breaking_categories), None)
    image_url, image_alt = _image(entry)
    return ArticleIn(
        guid=(entry.get("id") or url).strip(),
        url=url,
        title=title,
        published_at=published,
        summary_html=entry.get("summary", "") or "",
        body_html=body,
        image_url=image_url,
        image_alt=image_alt,
        author=entry.get("author"),
        section=section,
        breaking=breaking,
    )


def _image(entry: Any) -> tuple[str | None, str | None]:
    candidates: list[str] = []
    for media in entry.get("media_content", []) + entry.get("media_thumbnail", []):
        if media.get("url") and (media.get("medium") in (None, "image")):
            candidates.append(media["url"])
    for link in entry.get("links", []):
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            candidates.append(link.get("href", ""))
    for url in candidates:
        try:
            return _http_url(url, "image"), None
        except InvalidInput:
            continue
    return None, None


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    """A publication time in UTC between 1970 and 9000: outside, the time-zone arithmetic of the
    dates shown in mail (and of the databases) overflows."""
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range (1970 to 9000)") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError("is out of range (1970 to 9000)")
    return value


class ArticlePayload(BaseModel):
    """``POST /api/articles``: one article from the CMS."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    guid: str | None = Field(default=None, max_length=1000)
    url: str = Field(max_length=2000)
    title: str = Field(min_length=1, max_length=1000)
    summary: str = Field(default="", max_length=20000)
    body: str = Field(default="", max_length=500000)
    image_url: str | None = Field(default=None, max_length=2000)
    image_alt: str | None = Field(default=None, max_length=1000)
    section: str | None = Field(default=None, max_length=200)
    author: str | None = Field(default=None, max_length=300)
    published_at: datetime | None = None
    status: Literal["published", "unpublished"] = "published"
    breaking: bool = False  # send it at once to the immediate lists (once per article, ever)

    @field_validator("url", "image_url")
    @classmethod
    def _url(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        try:
            return _http_url(value, info.field_name)
        except InvalidInput as exc:
            raise ValueError(exc.message.split(": ", 1)[-1]) from None

    @field_validator("published_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-11-25T07:00:00+03:00")
        return _in_range(value)


def parse_api(payload: Any, *, now: datetime) -> ArticleIn:
    try:
        data = ArticlePayload.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"]) or "body"
        raise InvalidInput(field_name, str(err["msg"]).removeprefix("Value error, ")) from None
    return ArticleIn(
        guid=data.guid or data.url,
        url=data.url,
        title=data.title,
        published_at=data.published_at or now.astimezone(UTC),
        summary_html=data.summary,
        body_html=data.body,
        image_url=data.image_url,
        image_alt=data.image_alt,
        author=data.author,
        section=data.section,
        status=data.status,
        breaking=data.breaking,
    )


@dataclass
class StoreResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: list[int] = field(default_factory=list)
    breaking: list[int] = field(default_factory=list)  # ids of the published ones marked breaking


async def section_id(session: AsyncSession, name: str | None) -> int | None:
    if not name:
        return None
    await session.execute(
        insert(session, Section).values(name=name).on_conflict_do_nothing(index_elements=["name"])
    )
    return (await session.scalars(select(Section.id).where(Section.name == name))).one()


async def store(session: AsyncSession, articles: list[ArticleIn]) -> StoreResult:
    """Insert new articles and update changed ones; the same guid never makes a second row."""
    result = StoreResult()
    existing = {
        guid: digest
        for guid, digest in await session.execute(
            select(Article.guid, Article.content_hash).where(
                Article.guid.in_([a.guid for a in articles])
            )
        )
    }
    for article in articles:
        digest = article.content_hash()
        keys = link_keys(article.url)
        values = {
            "url": article.url,
            "link_key": keys.full,
            "link_base_key": keys.base,
            "title": article.title,
            "summary_html": article.summary_html,
            "summary_text": article.summary_text,
            "body_html": article.body_html,
            "image_url": article.image_url,
            "image_alt": article.image_alt,
            "author": article.author,
            "section_id": await section_id(session, article.section),
            "status": article.status,
            "published_at": article.published_at,
            "content_hash": digest,
            "updated_at": utcnow(),
        }
        stmt = insert(session, Article).values(guid=article.guid, created_at=utcnow(), **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["guid"],
            set_=values,
            where=Article.content_hash != digest,
        ).returning(Article.id)
        row_id = (await session.execute(stmt)).scalar()
        if article.guid not in existing:
            result.new += 1
        elif existing[article.guid] != digest:
            result.updated += 1
        else:
            result.unchanged += 1
        if row_id is None:
            row_id = (await session.scalars(select(Article.id).where(Article.guid == article.guid))).one()
        result.ids.append(row_id)
        if article.breaking and article.status == "published":
            result.breaking.append(row_id)
        existing[article.guid] = digest
    return result


async def store_feed(session: AsyncSession, parsed: ParseResult) -> StoreResult:
    """``store`` a feed's articles and remember its channel link, the site's home page."""
    if parsed.channel_link:
        await remember_channel(session, parsed.channel_link)
    return await store(session, parsed.articles)
