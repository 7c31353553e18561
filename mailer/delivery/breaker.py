"""The circuit breaker: when the relay or the receiving servers refuse the message itself
(``Verdict.REFUSED``: a content filter, a policy, an unauthenticated sender) several times in a
row, something is wrong with what we send, not with the recipients. The edition pauses with the
reason, instead of burning through the list and the sender's reputation, until an operator has
fixed the cause and resumes it (``mailer editions resume ID``).

The count lives on the edition (``refused_in_row``), so every worker adds to the same one; a
message the server accepted sets it back to zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.errors import Conflict, NotFound
from mailer.core.models import Edition, OutboxMessage
from mailer.delivery.outbox import Result
from mailer.delivery.outcomes import REFUSALS_TO_PAUSE, Verdict


async def note(session: AsyncSession, results: Iterable[Result]) -> list[int]:
    """Count a recorded batch's refusals per edition, in the batch's order; pause the editions
    that reach ``REFUSALS_TO_PAUSE`` in a row. Returns the ids of the editions paused."""
    streaks: dict[int, tuple[bool, int, str]] = {}  # edition -> (a send since, refusals since, last)
    for done in results:
        outcome, edition_id = done.outcome, done.row.edition_id
        if outcome is None or edition_id is None:
            continue
        reset, count, last = streaks.get(edition_id, (False, 0, ""))
        if outcome.verdict is Verdict.SENT:
            streaks[edition_id] = (True, 0, last)
        elif outcome.verdict is Verdict.REFUSED:
            streaks[edition_id] = (reset, count + 1, f"{outcome.code} {outcome.message}"[:200])
    paused = []
    for edition_id, (reset, count, last) in streaks.items():
        if not reset and not count:
            continue
        refused = Edition.refused_in_row
        await session.execute(
            update(Edition)
            .where(Edition.id == edition_id)
            .values(refused_in_row=count if reset else refused + count)
            .execution_options(synchronize_session=False)
        )
        reason = (f"the mail server refused the message {REFUSALS_TO_PAUSE} times in a row (not the "
                  f"mailboxes): {last}; fix the cause, then `mailer editions resume {edition_id}`")
        moved: Any = await session.execute(
            update(Edition)
            .where(Edition.id == edition_id, Edition.status == "sending",
                   Edition.refused_in_row >= REFUSALS_TO_PAUSE)
            .values(status="paused", status_reason=reason[:300])
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount:
            paused.append(edition_id)
    return paused


async def resume(session: AsyncSession, edition_id: int, now: datetime) -> int:
    """An operator's go for a paused edition: sending again, its count of refusals back to zero,
    and its pending rows (those refused once among them) due now. Returns how many are due."""
    edition = await session.get(Edition, edition_id)
    if edition is None:
        raise NotFound(f"no edition {edition_id}", public_message="هذا العدد غير موجود.")
    moved: Any = await session.execute(
        update(Edition)
        .where(Edition.id == edition_id, Edition.status == "paused")
        .values(status="sending", status_reason=None, refused_in_row=0)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:
        raise Conflict(f"edition {edition_id} is {edition.status}, not paused: nothing to resume",
                       public_message="هذا العدد ليس متوقفاً.")
    due: Any = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.edition_id == edition_id, OutboxMessage.status == "pending")
        .values(next_attempt_at=case((OutboxMessage.next_attempt_at > now, now),
                                     else_=OutboxMessage.next_attempt_at))
        .execution_options(synchronize_session=False)
    )
    return int(due.rowcount or 0)


async def pause(session: AsyncSession, edition_id: int, editor: str) -> None:
    """An editor's stop for an edition being sent: no worker claims its rows until it is
    resumed (``resume``); messages already handed to a worker finish."""
    edition = await session.get(Edition, edition_id)
    if edition is None:
        raise NotFound(f"no edition {edition_id}", public_message="هذا العدد غير موجود.")
    moved: Any = await session.execute(
        update(Edition)
        .where(Edition.id == edition_id, Edition.status == "sending")
        .values(status="paused", status_reason=f"paused by editor {editor}"[:300])
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:
        raise Conflict(f"edition {edition_id} is {edition.status}, not sending: nothing to pause",
                       public_message="هذا العدد لا يُرسل الآن، فلا شيء لإيقافه.")
