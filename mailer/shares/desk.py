"""Send this article to a friend: a request is checked, counted, recorded and queued ahead of any
digest, or refused with a reason that is recorded too. Useful to readers, useless to spammers:
one recipient, no free URL, no reader text in a header, limits per client, sender, recipient and
overall, a honeypot, a minimum fill time and an optional CAPTCHA.

Where each limit is counted, and why:

* per client and per sender address: the limits library (``mailer/core/ratelimit.py``), checked before the
  database is touched, so a flood from one client costs little;
* per recipient (per article and in all) and the global hourly breaker: the share records, so
  that they hold across every worker process; a recipient's shares take turns
  (``mailer.core.db.serialise``), so two workers cannot both send the one share allowed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.articles import identity
from mailer.articles.site import home_url
from mailer.compose.message import Rendered, to_bytes
from mailer.compose.render import ArticleView
from mailer.core import message_ids
from mailer.core.arabic import digits
from mailer.core.clients import client_key
from mailer.core.db import serialise
from mailer.core.errors import MailerError
from mailer.core.memo import Memo
from mailer.core.models import Article, Section
from mailer.core.offload import off_loop
from mailer.core.ratelimit import RateLimiter
from mailer.delivery import outbox
from mailer.delivery.service import Service
from mailer.shares import records
from mailer.shares.captcha import captcha_for
from mailer.shares.checks import (
    ArticleNotShareable,
    ShareInputRefused,
    ShareRateRefused,
    address_key,
    canonical_address,
    check_honeypot,
    check_name,
    check_note,
    check_recipient,
    check_sender_email,
    parse_article_id,
    parse_fields,
    reason_of,
)
from mailer.shares.mail import article_view, compose_share, render_share, share_identity
from mailer.shares.tokens import bad_form, check_form_token, check_stop_token, form_token, stop_token
from subscribers import suppression
from subscribers.addresses import Address
from subscribers.models import Subscriber

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
FORM_USED = "أُرسل الخبر بهذا النموذج من قبل. أعد تحميل الصفحة لإرساله إلى صديق آخر."
NOT_TO_THIS_ADDRESS = "لا يمكننا إرسال الأخبار إلى هذا العنوان. اختر عنواناً آخر."


@dataclass(frozen=True)
class Accepted:
    record_id: int
    outbox_id: int
    message_id: str


@dataclass
class _Trace:
    """What is known of a request so far, for its record if it is refused."""

    client_hash: str
    article_id: int | None = None
    recipient_key: str | None = None
    sender_key: str | None = None


@dataclass(frozen=True)
class _Shareable:
    view: ArticleView
    version: str  # the article's content hash: an edited article gets new content
    site_url: str | None = None  # the site's home page, linked from the mail


class ShareDesk:
    """One per web app: the limiter, the CAPTCHA hook and the per-article content cache."""

    def __init__(self, service: Service, *, cache_size: int = 256) -> None:
        self.svc = service
        self.settings = s = service.settings
        self.identity = share_identity(s)
        self.limiter = RateLimiter(s.share_rate_storage)
        self.ip_limits = RateLimiter.parse(s.share_ip_limits)
        self.sender_limits = RateLimiter.parse(s.share_sender_limits)
        self.captcha = captcha_for(s)
        self._content: Memo[tuple[int, str, bool, str | None], Rendered] = Memo(cache_size)

    # the form --------------------------------------------------------------------------

    def form_token(self, article_id: int) -> str:
        return form_token(self.settings.keyring, article_id, self.svc.clock())

    async def article(self, article_id: int) -> ArticleView:
        """A published article by its internal number (which only our own signed form carries),
        or ``ArticleNotShareable``."""
        async with self.svc.db.transaction() as session:
            return (await self._shareable(session, article_id)).view

    async def article_by(self, *, guid: str | None = None, url: str | None = None) -> ArticleView:
        """A published article by the site's identity: its guid or its link."""
        async with self.svc.db.transaction() as session:
            return (await self._shareable(session, await self._resolve(session, guid=guid, url=url))).view

    async def _resolve(self, session: AsyncSession, *, guid: str | None, url: str | None) -> int:
        found = await identity.find(session, guid=guid, url=url)
        if found is None:
            raise ArticleNotShareable(f"no article with guid {guid!r}" if guid else f"no article at {url!r}")
        return found

    async def _shareable(self, session: AsyncSession, article_id: int) -> _Shareable:
        row = (
            await session.execute(
                select(Article, Section.name)
                .outerjoin(Section, Section.id == Article.section_id)
                .where(Article.id == article_id)
            )
        ).first()
        if row is None or row[0].status != "published":
            raise ArticleNotShareable(f"article {article_id} does not exist or is not published")
        article, section = row
        return _Shareable(article_view(article, section), article.content_hash,
                          await home_url(session, self.settings))

    async def content(self, shareable: _Shareable, *, with_note: bool) -> Rendered:
        """Rendered and inlined once per article version (and note or not), in a render thread,
        then kept; concurrent shares of a new article wait for the one render."""
        return await self._content.get(
            (shareable.view.id, shareable.version, with_note, shareable.site_url),
            lambda: off_loop(render_share, self.svc.renderer, self.identity, shareable.view, with_note=with_note,
                             site_url=shareable.site_url),
        )

    # a request -------------------------------------------------------------------------

    async def share(self, fields: Iterable[tuple[str, object]], client_host: str) -> Accepted:
        """Check, count, record and queue one share; a refusal is recorded and raised."""
        now = self.svc.clock()
        client = client_key(client_host)
        trace = _Trace(client_hash=self._client_hash(client))
        fields = list(fields)
        for name, value in fields:  # for the record only; parse_fields refuses it properly
            if name == "article_id":
                with suppress(ShareInputRefused):
                    trace.article_id = parse_article_id(str(value))
        try:
            return await self._share(fields, client, trace, now)
        except MailerError as exc:
            reason = reason_of(exc)
            log.info("share refused (%s): %s", reason, exc.message)
            if reason != "rate_ip" or await self.limiter.first_in("1/minute", "ip-refusal", client):
                async with self.svc.db.transaction() as session:
                    await records.add(session, now=now, outcome=reason, article_id=trace.article_id,
                                            recipient_key=trace.recipient_key, sender_key=trace.sender_key,
                                            client_hash=trace.client_hash)
            raise

    async def _share(self, fields: list[tuple[str, object]], client: str, trace: _Trace, now: datetime) -> Accepted:
        s = self.settings
        wait = await self.limiter.acquire(self.ip_limits, "ip", client)
        if wait is not None:
            raise self._rate("rate_ip", f"client {client} is over {s.share_ip_limits}", wait,
                             "أرسلت عدداً كبيراً من الأخبار في وقت قصير. حاول مجدداً بعد {minutes} دقيقة.")
        request = parse_fields(fields, captcha_field=self.captcha.field if self.captcha else None)
        trace.article_id = request.article_id  # for the record, should the token be refused
        check_honeypot(request.honeypot)
        trace.article_id = check_form_token(
            s.keyring, request.form_token, request.article_id, now,
            min_fill=s.share_min_fill_seconds, max_age=timedelta(minutes=s.share_form_max_age_minutes),
        )
        if self.captcha is not None and not await self.captcha.verify(request.captcha, client):
            raise ShareInputRefused("captcha", self.captcha.field, "the CAPTCHA was not solved",
                                    public_message="لم نتحقق من أنك لست برنامجاً آلياً. "
                                                   "أكمل خطوة التحقق ثم أرسل النموذج.")
        sender_name = check_name(request.sender_name, max_length=s.share_name_max_length)
        recipient = check_recipient(request.friend_email)
        trace.recipient_key = address_key(recipient)
        sender = check_sender_email(request.sender_email)
        trace.sender_key = address_key(sender) if sender else None
        note = check_note(request.note, enabled=s.share_note_enabled, max_length=s.share_note_max_length)

        async with self.svc.db.transaction() as session:
            article_id = request.article_id or await self._resolve(session, guid=request.guid, url=request.url)
            if article_id != trace.article_id:  # the site named another article than its form's
                raise bad_form("for another article")
            shareable = await self._shareable(session, article_id)
            await self._check_recipient_accepts(session, recipient)
            reply_to = await self._reply_to(session, sender)
        if sender is not None:
            wait = await self.limiter.acquire(self.sender_limits, "sender", trace.sender_key or "")
            if wait is not None:
                raise self._rate("rate_sender", f"sender is over {s.share_sender_limits}", wait,
                                 "أرسلت من عنوانك عدداً كبيراً من الأخبار. حاول مجدداً بعد {minutes} دقيقة.")
        content = await self.content(shareable, with_note=bool(note))
        accepted = await self._queue(article_id, request.form_token, shareable, recipient, sender_name, note,
                                     reply_to, content, trace, now)
        self.svc.woken()
        log.info("share %s of article %s queued as outbox row %s", accepted.record_id, article_id, accepted.outbox_id)
        return accepted

    async def _queue(
        self,
        article_id: int,
        form_token: str,
        shareable: _Shareable,
        recipient: Address,
        sender_name: str,
        note: str,
        reply_to: str | None,
        content: Rendered,
        trace: _Trace,
        now: datetime,
    ) -> Accepted:
        key = trace.recipient_key
        assert key is not None
        async with self.svc.db.transaction() as session:
            await serialise(session, key)  # one share to a friend at a time, across workers
            token_hash = hashlib.sha256(form_token.strip().encode()).hexdigest()
            if await records.form_used(session, token_hash):  # the unique index backs this up
                raise ShareInputRefused("form_used", "form_token", "this form was already used for a share",
                                        public_message=FORM_USED)
            record = await records.add(
                session, now=now, outcome=records.QUEUED, article_id=article_id,
                recipient_key=key, sender_key=trace.sender_key, client_hash=trace.client_hash,
                form_token_hash=token_hash,
            )
            await self._check_counts(session, key, article_id, record.id, now)
            local = message_ids.local_part(self.settings.keyring, await message_ids.installation_id(session),
                                           f"share.{record.id}.{secrets.token_hex(4)}")
            message_id = self.identity.message_id(local)
            to = recipient.ascii or recipient.normalized
            msg = compose_share(
                content, self.identity, recipient=to, sender_name=sender_name,
                stop=stop_token(self.settings.keyring, key), date=now, message_id=local,
                note=note, reply_to=reply_to,
            )
            outbox_id = await outbox.enqueue(session, outbox.message_row(
                kind="share", recipient=to, payload=to_bytes(msg), message_id=message_id, now=now,
            ))
            record.outbox_id = outbox_id
        return Accepted(record.id, outbox_id, message_id)

    # the checks that need the database ---------------------------------------------------

    async def _check_recipient_accepts(self, session: AsyncSession, recipient: Address) -> None:
        forms = {recipient.normalized, canonical_address(recipient)}
        if recipient.ascii:
            forms.add(recipient.ascii)
        if await suppression.suppressed(session, forms):
            raise ShareInputRefused("suppressed", "friend_email", "the address does not accept shares",
                                    public_message=NOT_TO_THIS_ADDRESS)
        no_shares = await session.scalar(
            select(Subscriber.no_shares).where(Subscriber.email_key == recipient.key)
        )
        if no_shares or await records.opted_out(session, address_key(recipient)):
            raise ShareInputRefused("opted_out", "friend_email", "the address does not accept shares",
                                    public_message=NOT_TO_THIS_ADDRESS)

    async def _reply_to(self, session: AsyncSession, sender: Address | None) -> str | None:
        """The sender's address as ``Reply-To`` only when it is a confirmed subscriber's."""
        if sender is None:
            return None
        sub = (
            await session.scalars(
                select(Subscriber).where(Subscriber.email_key == sender.key, Subscriber.status == "confirmed")
            )
        ).first()
        if sub is None or await suppression.is_suppressed(session, sub.email):
            return None
        return sub.email_ascii or sub.email

    async def _check_counts(self, session: AsyncSession, key: str, article_id: int, own: int, now: datetime) -> None:
        s = self.settings
        same = await records.queued_since(session, now - DAY, recipient_key=key, article_id=article_id,
                                                exclude=own)
        if same.count >= s.share_recipient_article_per_day:
            raise ShareRateRefused(
                "rate_recipient_article", f"article {article_id} already shared with this recipient today",
                retry_after=same.retry_after(now, DAY),
                public_message="أُرسل هذا الخبر إلى هذا العنوان اليوم. لا حاجة لإرساله مرة أخرى؛ "
                               "أرسل خبراً آخر أو اختر صديقاً آخر.",
            )
        recipient_day = await records.queued_since(session, now - DAY, recipient_key=key, exclude=own)
        if recipient_day.count >= s.share_recipient_per_day:
            raise self._rate("rate_recipient", f"{recipient_day.count} shares to this recipient in 24 hours",
                             recipient_day.retry_after(now, DAY),
                             "وصل إلى هذا العنوان ما يكفي من الأخبار اليوم. "
                             "أرسل إلى صديق آخر أو حاول بعد {hours} ساعة.")
        hour = await records.queued_since(session, now - HOUR, exclude=own)
        if hour.count >= s.share_global_per_hour:
            raise self._rate("rate_global", f"global breaker: {hour.count} shares in the last hour",
                             hour.retry_after(now, HOUR),
                             "خدمة إرسال الأخبار مشغولة الآن. حاول مجدداً بعد {minutes} دقيقة.")

    # helpers -----------------------------------------------------------------------------

    def _rate(self, reason: str, message: str, wait: float, public: str) -> ShareRateRefused:
        minutes = digits(str(max(1, int(wait // 60) + (wait % 60 > 0))), self.settings.digits)
        hours = digits(str(max(1, int(wait // 3600) + (wait % 3600 > 0))), self.settings.digits)
        return ShareRateRefused(reason, message, retry_after=wait,
                                public_message=public.format(minutes=minutes, hours=hours))

    def _client_hash(self, client: str) -> str:
        """Keyed, so that the records cannot be turned back into IP addresses by trying them all;
        the same in every worker (and the same value as before the keyring), new after a rotation."""
        return self.settings.keyring.pseudonym("share-client", client)

    async def stop(self, token: str) -> None:
        """The stop link's POST: no more shares to the mailbox the token names."""
        key = check_stop_token(self.settings.keyring, token)
        async with self.svc.db.transaction() as session:
            await records.opt_out(session, key, self.svc.clock())
