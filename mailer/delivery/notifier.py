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
    """``await notifier(session, notice)``: compose and enqueue."""

    async def __call__(self, session: AsyncSession, notice: Notice) -> None:
        """Enqueue in the caller's transaction; the row is written with the next flush or commit,
        so an import of thousands writes them in batches."""
        await self.enqueue(session, [notice])

    async def enqueue(self, session: AsyncSession, notices: Sequence[Notice]) -> None:
        """Many notices at once (a batch of subscriptions), in the caller's transaction: the
        site's home page and the installation are looked up once, the bytes made in one trip to
        the render thread."""
        if not notices:
            return
        made = await self.messages(
            notices, await home_url(session, self.settings), installation=await message_ids.installation_id(session))
        session.add_all(outbox.message_row(
            kind=notice.kind, recipient=notice.recipient, payload=data, message_id=message_id,
            now=notice.at, subscriber_id=notice.subscriber_id, priority=outbox.URGENT_PRIORITY,
        ) for notice, (data, message_id) in zip(notices, made, strict=True))
