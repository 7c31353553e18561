"""The ``notify`` callable the subscriber flows are given: compose a notice and enqueue it in the
flow's own transaction, so a mail exists if and only if the change that asked for it was committed."""

from __future__ import annotations

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
        data, message_id = await self.message(
            notice, await home_url(session, self.settings), installation=await message_ids.installation_id(session))
        session.add(outbox.message_row(
            kind=notice.kind, recipient=notice.recipient, payload=data, message_id=message_id,
            now=notice.at, subscriber_id=notice.subscriber_id, priority=outbox.URGENT_PRIORITY,
        ))
