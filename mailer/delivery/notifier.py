"""The ``notify`` callable the subscriber flows are given: compose a notice and enqueue it in the
flow's own transaction, so a mail exists if and only if the change that asked for it was committed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mailer.articles.site import home_url
from mailer.compose.notices import NoticeComposer
from mailer.core import message_ids
from mailer.delivery import outbox
from subscribers.flows import Notice


class Notifier(NoticeComposer):
    """``await notifier(session, notices)``: compose and enqueue."""

    async def __call__(self, session: AsyncSession, notices: Sequence[Notice]) -> None:
        """Enqueue in the caller's transaction, many at once (a batch of subscriptions, an import
        chunk): the site's home page and the installation are looked up once, the bytes made in
        one trip to the render thread, the rows written with one statement."""
        if not notices:
            return
        made = await self.messages(
            notices, await home_url(session, self.settings), installation=await message_ids.installation_id(session))
        await outbox.enqueue_many(session, [outbox.message_values(
            kind=notice.kind, recipient=notice.recipient, payload=data, message_id=message_id,
            now=notice.at, subscriber_id=notice.subscriber_id, priority=outbox.URGENT_PRIORITY,
        ) for notice, (data, message_id) in zip(notices, made, strict=True)])
