"""Subscription flows as named transitions; each allowed status change is listed in one table.

Flows never send mail themselves: a flow that needs one (confirmation, welcome) hands a
``Notice`` to the ``notify`` callable it was given, inside the caller's transaction, so the mail
is enqueued if and only if the change is committed.

Over 500 lines on purpose: every flow that changes a subscriber's status is here, next
to the one table that allows it, so that no transition can hide in another module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailer.core.db import insert, one_of, serialise
from mailer.core.errors import Conflict, InvalidInput, InvalidToken, NotFound
from mailer.core.models import BounceEvent
from mailer.core.settings import Settings
from subscribers import store, suppression, tokens
from subscribers.addresses import Address, check, mailbox_key
from subscribers.models import Confirmation, Subscriber

# flow name -> (statuses it may start from, status it ends in)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "confirm": (frozenset({"pending"}), "confirmed"),
    "pause": (frozenset({"confirmed"}), "paused"),
    "resume": (frozenset({"paused"}), "confirmed"),
    "unsubscribe": (frozenset({"pending", "confirmed", "paused", "bounced"}), "unsubscribed"),
    "bounce": (frozenset({"pending", "confirmed", "paused"}), "bounced"),
    "resubscribe": (frozenset({"unsubscribed"}), "pending"),
}

# message kind -> the subscriber statuses that may receive it; the sender checks this right
# before sending, so a message enqueued before an unsubscribe is not sent after it.
RECEIVES: dict[str, frozenset[str]] = {
    "digest": frozenset({"confirmed"}),
    "alert": frozenset({"confirmed"}),
    "welcome": frozenset({"confirmed"}),
    "confirm": frozenset({"pending"}),
    "confirm_address": frozenset({"confirmed", "paused"}),
}

USED = "تم استخدام هذا الرابط من قبل."
EXPIRED = "انتهت صلاحية هذا الرابط. يمكنك طلب رابط جديد من صفحة الاشتراك."
ADDRESS_TAKEN = "هذا العنوان مشترك بالفعل في النشرة."


@dataclass(frozen=True)
class Notice:
    """A one-off message a flow asks for; the mailer side composes and enqueues it."""

    kind: str  # confirm | welcome | confirm_address
    subscriber_id: int
    recipient: str  # the envelope form (IDNA where there is one)
    name: str | None
    list_name: str
    at: datetime
    token: str | None = None  # the confirmation token, for confirm and confirm_address
    expires_at: datetime | None = None
    link_key: str | None = None  # the subscriber's, for the unsubscribe and preference links


# the notices of one change, in its transaction: a batch of them at once (an import chunk's
# confirmations in one call, not a query and a flush each)
Notify = Callable[[AsyncSession, Sequence[Notice]], Awaitable[None]]


class Linked(Protocol):
    """What a confirmation link needs of its subscriber: a ``Subscriber``, or a row an import
    has just written without an ORM object (``importer``)."""

    @property
    def id(self) -> int: ...

    @property
    def link_key(self) -> str | None: ...


def may_receive(kind: str, status: str) -> bool:
    """Whether a subscriber in ``status`` may get a message of ``kind`` (kinds not listed: yes)."""
    allowed = RECEIVES.get(kind)
    return allowed is None or status in allowed


def transition(sub: Subscriber, flow: str, now: datetime) -> bool:
    """Apply ``flow`` to ``sub``; False if it is already in the target status (idempotent)."""
    allowed, target = TRANSITIONS[flow]
    if sub.status == target:
        return False
    if sub.status not in allowed:
        raise Conflict(f"cannot {flow} a subscriber who is {sub.status}")
    sub.status = target
    sub.updated_at = now
    if target == "confirmed" and sub.confirmed_at is None:
        sub.confirmed_at = now
    if target == "unsubscribed":
        sub.unsubscribed_at = now
    return True


# subscribe and confirm -------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A subscription request, its fields already checked (see ``store.check_*``)."""

    address: Address
    name: str | None = None
    lists: tuple[str, ...] = ()
    sections: frozenset[int] = frozenset()
    source: str = "form"


async def subscribe(
    session: AsyncSession, settings: Settings, request: Request, *, now: datetime, notify: Notify
) -> str:
    """Ask for a subscription. Whatever the address's state, the caller answers the same, so the
    answer tells nobody whether an address is subscribed; what happens is returned for logs:

    * new: store it with the choices, mail a confirmation link;
    * pending: mail a confirmation link (one per interval) that carries this request's choices:
      they apply when that link is used, so a stranger cannot change a pending subscriber's name
      or lists, only offer a link that its owner may ignore;
    * unsubscribed: back to pending and a confirmation link (coming back needs consent again),
      with the choices on the link as for pending;
    * confirmed or paused: nothing changes (a stranger must not edit someone's choices);
    * bounced, complained about or forgotten: nothing at all.
    """
    return (await subscribe_many(session, settings, [request], now=now, notify=notify))[0]


async def subscribe_many(
    session: AsyncSession, settings: Settings, requests: Sequence[Request], *, now: datetime, notify: Notify,
    links: int | None = None,
) -> list[str]:
    """``subscribe`` for many requests in one transaction, with the outcome of each as if they had
    come one after the other in this order (a second request for a mailbox finds the first's
    subscriber, and its link within the interval), in a few statements for all of them.
    ``links``: at most that many confirmation links (the global breaker's room); the rest are
    withheld."""
    hashes = [suppression.address_hash(r.address.normalized) for r in requests]
    await _serialise_all(session, hashes)  # one request per mailbox at a time, across workers
    reasons = await suppression.reasons(session, [r.address.normalized for r in requests])
    found = {sub.email_key: sub for sub in await session.scalars(
        select(Subscriber).where(one_of(session, Subscriber.email_key, sorted({r.address.key for r in requests}))))}
    outcomes: list[str] = []
    asked: list[tuple[int, Subscriber]] = []  # (request, its subscriber): a link is due
    new: list[tuple[Subscriber, Request]] = []
    for i, request in enumerate(requests):
        address = request.address
        reason = reasons.get(address.normalized)
        if reason is not None and suppression.blocks(reason, "confirm"):
            outcomes.append(f"suppressed ({reason})")
            continue
        sub = found.get(address.key)
        if sub is None:
            sub = found[address.key] = Subscriber(
                email=address.normalized, email_ascii=address.ascii, name=request.name, status="pending",
                created_at=now, updated_at=now, source=request.source,
            )
            new.append((sub, request))
        elif sub.status == "unsubscribed":
            transition(sub, "resubscribe", now)
        elif sub.status != "pending":
            outcomes.append(f"unchanged ({sub.status})")
            continue
        outcomes.append("")
        asked.append((i, sub))
    if new:
        await store.add_many(session, [sub for sub, _ in new], [r.lists for _, r in new], [r.sections for _, r in new])
    made = await _confirmations(session, settings, [(sub, requests[i].address, requests[i]) for i, sub in asked],
                                "subscribe", now=now, notify=notify, most=links)
    for (i, _), sent in zip(asked, made, strict=True):
        outcomes[i] = "confirmation sent" if sent else f"confirmation withheld ({sent.reason})"
    return outcomes


async def _serialise_all(session: AsyncSession, keys: Iterable[str]) -> None:
    """``serialise`` on each key, in order (two transactions never wait for each other's); SQLite
    has one write lock for the whole file, so the first one takes it for all."""
    for key in sorted(set(keys)):
        await serialise(session, key)
        if session.get_bind().dialect.name != "postgresql":
            break


async def _confirmation(
    session: AsyncSession,
    settings: Settings,
    sub: Subscriber,
    purpose: str,
    target: Address,
    *,
    now: datetime,
    notify: Notify,
    choices: Request | None = None,
) -> bool:
    return bool(await confirmations(session, settings, [(sub, target)], purpose, now=now, notify=notify,
                                    choices=choices))


async def confirmations(
    session: AsyncSession,
    settings: Settings,
    targets: Sequence[tuple[Linked, Address]],
    purpose: str,
    *,
    now: datetime,
    notify: Notify,
    choices: Request | None = None,
) -> int:
    """Store a new single-use token for each (subscriber, address) and ask for its mail, except
    for addresses that had one within the interval; returns how many were sent. ``choices``
    (one target only) go with the link and apply when it is used."""
    made = await _confirmations(session, settings, [(sub, target, choices) for sub, target in targets], purpose,
                                now=now, notify=notify)
    return sum(1 for sent in made if sent)


@dataclass(frozen=True)
class _Made:
    """Whether a target got its link, and why not (for the logs)."""

    reason: str = ""

    def __bool__(self) -> bool:
        return not self.reason


async def _confirmations(
    session: AsyncSession,
    settings: Settings,
    targets: Sequence[tuple[Linked, Address, Request | None]],
    purpose: str,
    *,
    now: datetime,
    notify: Notify,
    most: int | None = None,
) -> list[_Made]:
    """``confirmations`` with the choices of each target's own request, and at most ``most`` links."""
    hashes = [suppression.address_hash(target.normalized) for _, target, _ in targets]
    interval = timedelta(hours=settings.confirm_interval_hours)
    recent = set(await session.scalars(
        select(Confirmation.address_hash)
        .where(one_of(session, Confirmation.address_hash, sorted(set(hashes))),
               Confirmation.created_at > now - interval)
    )) if hashes else set()
    expires = now + timedelta(hours=settings.confirm_expiry_hours)
    kind = "confirm" if purpose == "subscribe" else "confirm_address"
    taken = await store.lists_of(session, [sub.id for sub, _, choices in targets if choices is None])
    notices: list[Notice] = []
    links: list[dict[str, object]] = []
    made: list[_Made] = []
    for (sub, target, choices), target_hash in zip(targets, hashes, strict=True):
        if target_hash in recent:
            made.append(_Made("one per interval"))
            continue
        if most is not None and len(notices) >= most:
            made.append(_Made("global breaker"))
            continue
        recent.add(target_hash)
        token = tokens.new_confirmation()
        links.append(dict(
            subscriber_id=sub.id, purpose=purpose, token_hash=tokens.confirmation_hash(token),
            address_hash=target_hash, created_at=now, expires_at=expires,
            new_email=target.normalized if purpose == "address" else None,
            new_email_ascii=target.ascii if purpose == "address" else None,
            **_choices_columns(choices),
        ))
        # no name: it was typed by whoever filled in the form, and must not reach an address
        # that has not confirmed anything (a form that greets by name is a spam relay)
        asked = choices.lists if choices is not None else taken.get(sub.id, ())  # the lists asked for
        list_name = store.main_list(settings, asked)
        notices.append(Notice(kind, sub.id, target.smtp, None, list_name, now, token, expires, sub.link_key))
        made.append(_Made())
    if links:  # one statement: SQLite inserts ORM objects a statement each (to read back their ids)
        await session.execute(insert(session, Confirmation), links)
        await notify(session, notices)
    return made


def _choices_columns(choices: Request | None) -> dict[str, str | None]:
    if choices is None:  # every row of one statement has the same columns
        return {"name": None, "lists": None, "sections": None}
    return {"name": choices.name, "lists": ",".join(choices.lists),
            "sections": ",".join(str(s) for s in sorted(choices.sections))}


async def confirmations_since(session: AsyncSession, since: datetime) -> int:
    """Confirmation links made since ``since``, by every worker: what the global breaker counts."""
    return int(await session.scalar(
        select(func.count()).select_from(Confirmation).where(Confirmation.created_at > since)) or 0)


async def pending_confirmation(session: AsyncSession, token: str, now: datetime) -> Confirmation:
    """The unused, unexpired confirmation behind ``token``; anything else is refused."""
    token_hash = tokens.confirmation_hash(token)
    found = (await session.scalars(select(Confirmation).where(Confirmation.token_hash == token_hash))).first()
    if found is None:
        raise InvalidInput("token", "unknown confirmation token", public_message=tokens.BAD_TOKEN)
    if found.used_at is not None:
        raise InvalidInput("token", "confirmation token already used", public_message=USED)
    if found.expires_at <= now:
        raise InvalidInput("token", "confirmation token expired", public_message=EXPIRED)
    return found


async def confirm(
    session: AsyncSession, settings: Settings, token: str, *, now: datetime, notify: Notify
) -> Subscriber:
    """Use a confirmation link: the subscription starts, or the address change takes effect."""
    found = await pending_confirmation(session, token, now)
    used = await session.execute(
        update(Confirmation)
        .where(Confirmation.id == found.id, Confirmation.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not used.rowcount:  # type: ignore[attr-defined]
        raise InvalidInput("token", "confirmation token already used", public_message=USED)
    sub = await session.get(Subscriber, found.subscriber_id)
    if sub is None:
        raise InvalidInput("token", "subscriber no longer exists", public_message=tokens.BAD_TOKEN)
    if found.purpose == "address":
        await _move_address(session, sub, found, now)
        return sub
    if transition(sub, "confirm", now):
        if found.lists is not None:  # the choices of the request this link answers
            sub.name = found.name
            asked = [key for key in found.lists.split(",") if key in settings.lists]
            if asked:  # a list since removed from the settings is no choice
                await store.set_lists(session, sub.id, asked)
            chosen = {int(s) for s in (found.sections or "").split(",") if s}
            await store.set_sections(session, sub.id, chosen & set(await store.section_names(session)))
        await suppression.lift(session, sub.email)  # they asked to come back, and proved it
        lists = (await store.lists_of(session, [sub.id])).get(sub.id, ())
        await notify(session, [Notice("welcome", sub.id, sub.email_ascii or sub.email, sub.name,
                                      store.main_list(settings, lists), now, link_key=sub.link_key)])
    return sub


async def _move_address(session: AsyncSession, sub: Subscriber, found: Confirmation, now: datetime) -> None:
    assert found.new_email is not None
    taken = await session.scalar(
        select(Subscriber.id).where(Subscriber.email_key == mailbox_key(found.new_email), Subscriber.id != sub.id)
    )
    if taken is not None:
        raise Conflict(f"{found.new_email} belongs to subscriber {taken}", public_message=ADDRESS_TAKEN)
    reason = await suppression.reason_for(session, found.new_email)
    if reason is not None and reason != "unsubscribe":
        raise Conflict(f"the new address is suppressed ({reason})", public_message=ADDRESS_TAKEN)
    await suppression.lift(session, found.new_email)
    sub.email, sub.email_ascii, sub.updated_at = found.new_email, found.new_email_ascii, now


# preferences -------------------------------------------------------------------------------------


async def holder(session: AsyncSession, link: tokens.Link) -> Subscriber:
    """The subscriber a signed link names, if they still exist with the link key it carries;
    anything else is refused exactly like a forged token (an erased person's old links, or
    links that name an id handed out again)."""
    sub = await session.get(Subscriber, link.subscriber_id)
    if sub is None or not link.opens(sub.link_key):
        raise InvalidToken("no subscriber holds this link")
    return sub


async def active(session: AsyncSession, subscriber_id: int) -> Subscriber:
    """The subscriber a preferences link names, if they may still change anything."""
    sub = await session.get(Subscriber, subscriber_id)
    if sub is None:
        raise InvalidInput("token", "subscriber no longer exists", public_message=tokens.BAD_TOKEN)
    return sub


async def update_preferences(
    session: AsyncSession,
    subscriber_id: int,
    *,
    name: str | None,
    lists: Iterable[str],
    sections: Iterable[int],
    now: datetime,
) -> Subscriber:
    sub = await active(session, subscriber_id)
    if sub.status not in ("pending", "confirmed", "paused"):
        raise Conflict(f"cannot change the preferences of a subscriber who is {sub.status}")
    sub.name, sub.updated_at = name, now
    await store.set_lists(session, sub.id, lists)
    await store.set_sections(session, sub.id, sections)
    return sub


async def pause(session: AsyncSession, subscriber_id: int, now: datetime) -> Subscriber:
    sub = await active(session, subscriber_id)
    transition(sub, "pause", now)
    return sub


async def resume(session: AsyncSession, subscriber_id: int, now: datetime) -> Subscriber:
    sub = await active(session, subscriber_id)
    transition(sub, "resume", now)
    return sub


async def change_address(
    session: AsyncSession,
    settings: Settings,
    subscriber_id: int,
    new: Address,
    *,
    now: datetime,
    notify: Notify,
) -> bool:
    """Mail a confirmation link to the new address; nothing changes until it is used."""
    sub = await active(session, subscriber_id)
    if sub.status not in ("confirmed", "paused"):
        raise Conflict(f"cannot change the address of a subscriber who is {sub.status}")
    if new.key == sub.email_key:
        return False
    return await _confirmation(session, settings, sub, "address", new, now=now, notify=notify)


# leaving -----------------------------------------------------------------------------------------


async def unsubscribe(session: AsyncSession, subscriber_id: int, now: datetime) -> None:
    """Leave every list at once and never be mailed again; repeating it changes nothing."""
    sub = await session.get(Subscriber, subscriber_id)
    if sub is None or sub.status in ("unsubscribed", "forgotten"):
        return
    transition(sub, "unsubscribe", now)
    await suppression.suppress(session, sub.email, "unsubscribe")


async def by_any_form(session: AsyncSession, address: str) -> Subscriber | None:
    """The subscriber behind an address as a bounce or a complaint reports it: IDNA or Unicode
    domain, and the local part in any case (as the suppression list compares it)."""
    try:
        parsed = check(address)
    except InvalidInput:
        return None
    return await store.by_address(session, parsed)


async def disable(
    session: AsyncSession, address: str, now: datetime, *, subscriber: Subscriber | None = None
) -> Subscriber | None:
    """Mail to this address bounces for good (the bounce score reached its threshold): suppress
    the address and mark its subscriber ``bounced``. Returns the subscriber, if there is one."""
    sub = subscriber or await by_any_form(session, address)
    for form in {address, *([sub.email] if sub else [])}:
        await suppression.suppress(session, form, "hard_bounce")
    if sub is not None and sub.status in TRANSITIONS["bounce"][0]:
        transition(sub, "bounce", now)
    return sub


async def complaint(
    session: AsyncSession, address: str, now: datetime, *, subscriber: Subscriber | None = None
) -> Subscriber | None:
    """A spam complaint (feedback loop): suppress the address and unsubscribe its subscriber."""
    sub = subscriber or await by_any_form(session, address)
    for form in {address, *([sub.email] if sub else [])}:
        await suppression.suppress(session, form, "complaint")
    if sub is not None and sub.status in TRANSITIONS["unsubscribe"][0]:
        transition(sub, "unsubscribe", now)
    return sub


async def suppress_by_operator(session: AsyncSession, subscriber_id: int, now: datetime) -> Subscriber:
    """An editor blocks an address for good (a spam trap, an abusive address, a request that must
    hold even against a later form): suppressed as "operator", which, unlike an unsubscribe, no
    new subscription request lifts; the subscriber leaves every list."""
    sub = await session.get(Subscriber, subscriber_id)
    if sub is None or sub.status == "forgotten":
        raise NotFound(f"no subscriber with id {subscriber_id}")
    await suppression.suppress(session, sub.email, "operator")
    if sub.status in TRANSITIONS["unsubscribe"][0]:
        transition(sub, "unsubscribe", now)
    return sub


async def add_by_operator(
    session: AsyncSession, settings: Settings, request: Request, *, confirmed: bool, now: datetime, notify: Notify
) -> Subscriber:
    """An editor adds someone in the console: ``confirmed`` when the editor vouches for their
    consent (no mail), else pending with a confirmation link as from the form. A suppressed
    address or one already subscribed is refused, with the reason."""
    address = request.address
    await serialise(session, suppression.address_hash(address.normalized))
    reason = await suppression.reason_for(session, address.normalized)
    if reason is not None:
        raise Conflict(f"{address.normalized} is suppressed ({reason})",
                       public_message="هذا العنوان محظور ولا يُضاف من جديد.")
    if await store.by_address(session, address) is not None:
        raise Conflict("already a subscriber", public_message=ADDRESS_TAKEN)
    sub = await store.add(session, address, now=now, name=request.name, lists=request.lists,
                          sections=request.sections, source="operator",
                          status="confirmed" if confirmed else "pending")
    if not confirmed:
        await _confirmation(session, settings, sub, "subscribe", address, now=now, notify=notify)
    return sub


@dataclass(frozen=True)
class Forgotten:
    subscriber_id: int | None
    addresses: frozenset[str]  # every form of the address that was found
    erased: int  # what ``erase`` reported (rows cleared elsewhere)


Erase = Callable[[AsyncSession, frozenset[str], int | None], Awaitable[int]]


async def forget(session: AsyncSession, address: str, *, erase: Erase) -> Forgotten:
    """Erase a person: their subscriber row, choices and pending links go, ``erase`` clears the
    address from the mailer side (the outbox) before the row goes, and their bounce events keep
    only their kind and day; only the hash of the address stays, on the suppression list, so they
    are never mailed again."""
    parsed = check(address)
    await suppression.suppress(session, parsed.normalized, "forget")
    forms = {parsed.normalized, parsed.smtp}
    sub = await by_any_form(session, address)
    subscriber_id = None
    if sub is not None:
        subscriber_id = sub.id
        forms |= {sub.email, sub.email_ascii or sub.email}
    erased = await erase(session, frozenset(forms), subscriber_id)
    # bounce and complaint events stay for the daily counts, without whom they were about
    about: ColumnElement[bool] = func.lower(BounceEvent.recipient).in_(sorted({f.lower() for f in forms}))
    if subscriber_id is not None:
        about = or_(about, BounceEvent.subscriber_id == subscriber_id)
    await session.execute(update(BounceEvent).where(about).values(recipient="", detail="", subscriber_id=None)
                          .execution_options(synchronize_session=False))
    if sub is not None:
        await session.execute(delete(Confirmation).where(Confirmation.subscriber_id == sub.id))
        await session.delete(sub)
    # someone else's pending address change to this address
    await session.execute(delete(Confirmation).where(
        func.lower(Confirmation.new_email).in_(sorted({f.lower() for f in forms}))))
    await session.flush()
    return Forgotten(subscriber_id, frozenset(forms), erased)
