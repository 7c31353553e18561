"""Public subscription pages: subscribe (form and JSON), confirm by POST, and the preferences page
every mail links to. No login anywhere: the signed or random token in the URL is the credential,
and the only thing that lets a form change anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from mailer.core.errors import InvalidInput, RateLimited
from mailer.core.settings import Settings
from mailer.delivery.notifier import Notifier
from mailer.web.bodies import TEXT, documented, object_schema
from mailer.web.clients import client_of
from mailer.web.deps import objects_of, pages_of, service_of
from mailer.web.embeds import check_origin
from mailer.web.security import embeddable
from subscribers import flows, store, tokens
from subscribers.addresses import check

router = APIRouter()

SUBSCRIBE_REPLY = (
    "شكراً لك. إذا لم يكن هذا العنوان مشتركاً من قبل فستصله خلال دقائق رسالة فيها رابط لتأكيد "
    "الاشتراك. لن يبدأ الاشتراك قبل التأكيد."
)
UNSUBSCRIBED = "تم إلغاء اشتراكك. لن تصلك منّا رسائل بعد الآن."
NOTES = {
    "save": "تم حفظ تفضيلاتك.",
    "pause": "تم إيقاف النشرة مؤقتاً. يمكنك استئنافها من هذه الصفحة متى شئت.",
    "resume": "تم استئناف النشرة.",
    "email": "أرسلنا رابطاً لتأكيد العنوان الجديد إليه. لن يتغيّر عنوانك قبل التأكيد.",
}
TOO_MANY = "أرسلت عدداً كبيراً من طلبات الاشتراك في وقت قصير. حاول مجدداً بعد قليل."
BUSY = "خدمة الاشتراك مشغولة الآن. حاول مجدداً بعد بضع دقائق."
# token pages must not leak their URL to other sites or stay in shared caches
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def notifier_of(request: Request) -> Notifier:
    return objects_of(request).notifier


def _page(request: Request, name: str, *, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    page: HTMLResponse = pages_of(request).render(name, title=title, status_code=status_code, **context)
    page.headers.update(PRIVATE)
    return page


@dataclass(frozen=True)
class Fields:
    """What a form or a JSON body sent; lists for repeated fields."""

    values: dict[str, str]
    sections: list[str]
    is_json: bool
    lists: list[str] | None = None  # None: the request named no list at all

    def chosen_lists(self, settings: Settings, *, default: bool = False) -> tuple[str, ...]:
        """The lists asked for: ``lists`` (keys or names), or the old one-list ``frequency``.
        With ``default``, a request that offered no choice (a plain form on the site, a bare
        JSON call; not our own form, which says ``lists_shown``) takes the first list."""
        if self.lists is None and self.values.get("frequency"):
            return store.check_lists(settings.lists, [self.values["frequency"]], field="frequency")
        named = self.lists
        if named is None and default and not self.values.get("lists_shown"):
            named = [next(iter(settings.lists))]
        return store.check_lists(settings.lists, named or [])


MULTI = ("sections", "lists")  # the fields that take several values


async def read_fields(request: Request) -> Fields:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise InvalidInput("body", "is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidInput("body", "must be a JSON object")
        values: dict[str, str] = {}
        for key, value in body.items():
            if key in MULTI:
                continue
            if value is not None and not isinstance(value, str):
                raise InvalidInput(str(key), "must be a string")
            values[str(key)] = value or ""
        sections = body.get("sections") or []
        if not isinstance(sections, list):
            raise InvalidInput("sections", "must be a list of section ids")
        lists = body.get("lists")
        if lists is not None and (not isinstance(lists, list) or not all(isinstance(v, str) for v in lists)):
            raise InvalidInput("lists", "must be a list of list keys, e.g. [\"daily\"]")
        return Fields(values, [str(s) for s in sections], True, lists)
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(max_files=0, max_fields=200)
        values = {k: v for k, v in form.items() if isinstance(v, str) and k not in MULTI}
        sections = [v for v in form.getlist("sections") if isinstance(v, str)]
        named = [v for v in form.getlist("lists") if isinstance(v, str)]
        return Fields(values, sections, False, named if "lists" in form else None)
    raise InvalidInput("body", "send a form (urlencoded or multipart) or JSON")


# subscribe ---------------------------------------------------------------------------------------


def list_choices(settings: Settings) -> list[dict[str, str]]:
    return [{"key": k, "name": v.name, "description": v.description} for k, v in settings.lists.items()]


@router.get("/subscribe", response_class=HTMLResponse)
async def subscribe_page(request: Request) -> HTMLResponse:
    """The form; the site may frame it (``MAILER_SITE_ORIGINS``)."""
    svc = service_of(request)
    async with svc.db.transaction() as session:
        sections = await store.section_names(session)
    page = _page(request, "subscribe", title="الاشتراك في النشرة", sections=sections,
                 lists=list_choices(svc.settings))
    return embeddable(page, svc.settings)


SUBSCRIBE_BODY = object_schema(
    {"email": TEXT, "name": TEXT, "lists": {"type": "array", "items": TEXT}, "frequency": TEXT,
     "sections": {"type": "array", "items": {"type": "integer"}}}, ("email",))
PREFERENCES_BODY = object_schema(
    {"action": {"type": "string", "enum": ["save", "pause", "resume", "leave", "email"]}, "name": TEXT,
     "lists": {"type": "array", "items": TEXT}, "sections": {"type": "array", "items": TEXT}, "new_email": TEXT})


@router.post("/subscribe", openapi_extra=documented(SUBSCRIBE_BODY))
async def subscribe(request: Request) -> Response:
    """The same answer, status, body and time, whether the address is new, pending, subscribed,
    unsubscribed or suppressed: the form must not tell who is on the list. So everything before
    the answer is the same for every address (the fields, the limits), and what is done with the
    address happens after it, with other requests' (``mailer.web.subscribing``)."""
    svc = service_of(request)
    check_origin(request, svc.settings)
    fields = await read_fields(request)
    address = check(fields.values.get("email", ""), smtputf8=svc.settings.relay_smtputf8)
    name = store.check_name(fields.values.get("name"))
    lists = fields.chosen_lists(svc.settings, default=True)
    sections: frozenset[int] = frozenset()
    if fields.sections:
        async with svc.db.transaction() as session:
            sections = await store.check_sections(session, fields.sections)
    await _admit(request, svc.clock())
    await objects_of(request).subscriptions.add(flows.Request(address, name, lists, sections, source="form"))
    if fields.is_json:
        return JSONResponse({"status": "ok", "message": SUBSCRIBE_REPLY})
    page = _page(request, "message", title="الاشتراك في النشرة", message=SUBSCRIBE_REPLY, error=False)
    return embeddable(page, svc.settings)


async def _admit(request: Request, now: datetime) -> None:
    """The per-client limit (every request counts, whatever its address) and the global breaker
    (confirmation links made in the last hour, by every worker: ``mailer.web.subscribing``)."""
    svc = service_of(request)
    s = svc.settings
    objects = objects_of(request)
    wait = await objects.limiter.acquire(objects.subscribe_limits, "subscribe", client_of(request))
    if wait is not None:
        raise RateLimited(f"client {client_of(request)} is over {s.subscribe_ip_limits}", retry_after=wait,
                          public_message=TOO_MANY)
    if await objects.subscriptions.links_in_hour(now) >= s.subscribe_global_per_hour:
        raise RateLimited(f"global breaker: {s.subscribe_global_per_hour} confirmation links in the last hour",
                          retry_after=300, public_message=BUSY)


# confirm -----------------------------------------------------------------------------------------


@router.get("/c/{token}", response_class=HTMLResponse)
async def confirm_page(token: str, request: Request) -> HTMLResponse:
    """A page with a button: link scanners follow GETs, so a GET only looks the token up."""
    svc = service_of(request)
    async with svc.db.transaction() as session:
        found = await flows.pending_confirmation(session, token, svc.clock())
    return _page(request, "confirm", title="تأكيد الاشتراك" if found.purpose == "subscribe"
                 else "تأكيد العنوان الجديد", purpose=found.purpose)


@router.post("/c/{token}", response_class=HTMLResponse)
async def confirm(token: str, request: Request) -> HTMLResponse:
    svc = service_of(request)
    async with svc.db.transaction() as session:
        sub = await flows.confirm(session, svc.settings, token, now=svc.clock(), notify=notifier_of(request))
        taken = (await store.lists_of(session, [sub.id])).get(sub.id, frozenset())
    svc.woken()
    prefs = f"/p/{tokens.preferences_token(svc.settings.keyring, sub.id, sub.link_key)}"
    labels = "، ".join(v.name for k, v in svc.settings.lists.items() if k in taken)
    return _page(request, "confirmed", title="تم التأكيد", preferences_url=prefs, list_labels=labels)


# preferences -------------------------------------------------------------------------------------


async def _preferences(request: Request, link: tokens.Link, *, note: str | None = None) -> HTMLResponse:
    svc = service_of(request)
    async with svc.db.transaction() as session:
        sub = await flows.holder(session, link)
        sections = await store.section_names(session)
        chosen = (await store.sections_of(session, [sub.id])).get(sub.id, frozenset())
        taken = (await store.lists_of(session, [sub.id])).get(sub.id, frozenset())
    if sub.status not in ("pending", "confirmed", "paused"):
        return _page(request, "message", title="تفضيلات النشرة", error=False,
                     message="أنت غير مشترك حالياً في النشرة. يمكنك الاشتراك من جديد من صفحة الاشتراك.")
    return _page(request, "preferences", title="تفضيلات النشرة", sub=sub, sections=sections,
                 chosen=chosen, lists=list_choices(svc.settings), taken=taken, note=note,
                 tracking=svc.settings.tracking, track_opens=svc.settings.track_opens)


@router.get("/p/{token}", response_class=HTMLResponse)
async def preferences_page(token: str, request: Request) -> HTMLResponse:
    link = tokens.check(service_of(request).settings.keyring, "preferences", token)
    return await _preferences(request, link)


@router.post("/p/{token}", response_class=HTMLResponse, openapi_extra=documented(PREFERENCES_BODY))
async def preferences(token: str, request: Request) -> HTMLResponse:
    """One form, several buttons (``action``): save, pause, resume, leave, or change the address."""
    svc = service_of(request)
    link = tokens.check(svc.settings.keyring, "preferences", token)
    check_origin(request, svc.settings, site=False)  # the site's pages have no business here
    fields = await read_fields(request)
    action = fields.values.get("action", "save")
    now = svc.clock()
    async with svc.db.transaction() as session:
        subscriber_id = (await flows.holder(session, link)).id
        if action == "save":
            name = store.check_name(fields.values.get("name"))
            lists = fields.chosen_lists(svc.settings)
            sections = await store.check_sections(session, fields.sections)
            await flows.update_preferences(session, subscriber_id, name=name, lists=lists,
                                           sections=sections, now=now)
        elif action == "pause":
            await flows.pause(session, subscriber_id, now)
        elif action == "resume":
            await flows.resume(session, subscriber_id, now)
        elif action == "leave":
            await flows.unsubscribe(session, subscriber_id, now)
        elif action == "email":
            new = check(fields.values.get("new_email", ""), field="new_email",
                        smtputf8=svc.settings.relay_smtputf8)
            await flows.change_address(session, svc.settings, subscriber_id, new, now=now,
                                       notify=notifier_of(request))
        else:
            raise InvalidInput("action", f"{action!r} is not one of save, pause, resume, leave, email")
    if action == "leave":
        return _page(request, "message", title="إلغاء الاشتراك", message=UNSUBSCRIBED, error=False)
    svc.woken()
    return await _preferences(request, link, note=NOTES[action])
