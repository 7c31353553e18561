"""The console's deliverability page (``/editor/deliverability``): the complaint rate per day of the
last 30 days against Gmail's and Yahoo's 0.3 %, with a warning above 0.1 %, the bounce rate, the
bounce and complaint log and the suppression list with its search. Read-only; no script."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from mailer.editor import charts, deliverability, stats
from mailer.editor.figures import Figures
from mailer.editor.localdays import last_days
from mailer.web.auth import Admin
from mailer.web.deps import pages_of, service_of
from mailer.web.security import editor_page

router = APIRouter()  # mounted under /editor by mailer.web.editor

DAYS = 30
KIND_LABELS = {
    "hard": "ارتداد دائم",
    "soft": "ارتداد مؤقت",
    "complaint": "شكوى (بلاغ رسالة مزعجة)",
    "refused": "رفض الرسالة نفسها",
}
SOURCE_LABELS = {"smtp": "ردّ خادم البريد", "dsn": "إشعار ارتداد", "arf": "تقرير شكوى", "api": "واجهة البرمجة"}
REASON_LABELS = {
    "unsubscribe": "ألغى اشتراكه",
    "hard_bounce": "عنوان لا يستقبل البريد",
    "complaint": "اشتكى من رسالة",
    "forget": "طلب محو بياناته",
}
VERDICTS = {
    "over": "تجاوزت نسبة الشكاوى {rate} يوم {day}، فوق حدّ {limit} الذي يفرضه Gmail وYahoo. "
            "قد تُرفض رسائلكم أو تذهب إلى البريد المزعج: راجعوا ما أُرسل ذلك اليوم ومن أُرسل إليهم.",
    "warn": "بلغت نسبة الشكاوى {rate} يوم {day}، فوق {warn} التي يوصي Gmail وYahoo بالبقاء دونها "
            "(والحدّ {limit}). راقبوا الأيام القادمة.",
}

Before = Annotated[int | None, Query(ge=1, le=2**62)]


def _query(**values: object) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


@router.get("/deliverability", response_class=HTMLResponse)
async def deliverability_page(
    request: Request,
    who: Admin,  # it shows subscribers' addresses (the log and the suppression search)
    before: Before = None,
    kind: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=deliverability.MAX_QUERY)] = "",
    sbefore: Before = None,
) -> HTMLResponse:
    svc = service_of(request)
    settings = svc.settings
    figures = Figures(settings.digits, settings.date_locale)
    kind_filter = deliverability.check_kind(kind)
    query = deliverability.check_query(q)
    now = svc.clock()
    days = last_days(now, settings.tz, DAYS)
    async with svc.db.transaction() as session:
        daily = await stats.daily(session, settings.tz, days, now)
        log = await deliverability.events(session, before=before, kind=kind_filter)
        reasons = await deliverability.reason_counts(session)
        suppressed = (await deliverability.search(session, query) if query
                      else await deliverability.suppressions(session, before=sbefore))
    verdict = stats.verdict(daily)
    warning = None
    if verdict.level != "ok" and verdict.worst is not None:
        warning = VERDICTS[verdict.level].format(
            rate=figures.percent(verdict.worst.complaint_rate), day=figures.long_day(verdict.worst.day),
            limit=figures.percent(stats.GMAIL_LIMIT), warn=figures.percent(stats.WARN_ABOVE))
    rates = charts.line_chart(
        "complaint-rate", "نسبة الشكاوى في اليوم",
        f"الشكاوى مقسومة على الرسائل المسلَّمة في كل يوم من آخر {figures.number(DAYS)} يوماً، والارتدادات "
        f"مقسومة على محاولات التسليم، مع حدّ {figures.percent(stats.GMAIL_LIMIT)} الذي يفرضه Gmail وYahoo "
        f"وحدّ التنبيه {figures.percent(stats.WARN_ABOVE)}.",
        days, [charts.Series("نسبة الشكاوى", [d.complaint_rate for d in daily]),
               charts.Series("نسبة الارتداد", [d.bounce_rate for d in daily])],
        fmt=figures.percent, day_label=figures.short_day,
        guides=[charts.Guide(stats.GMAIL_LIMIT, "حدّ Gmail وYahoo"),
                charts.Guide(stats.WARN_ABOVE, "حدّ التنبيه", "#e6a100")],
    )
    total = stats.totals(daily)
    return editor_page(
        pages_of(request), "deliverability", title="سلامة التسليم", editor=who, csrf=who.csrf_token,
        warning=warning, level=verdict.level, zone=settings.timezone, days_count=figures.number(DAYS),
        warn_limit=figures.percent(stats.WARN_ABOVE), chart=Markup(rates),  # noqa: S704  (charts escapes every text)
        days=[{"day": figures.long_day(d.day), "iso": d.day.isoformat(), "delivered": figures.number(d.delivered),
               "complaints": figures.number(d.complaints), "complaint_rate": figures.percent(d.complaint_rate),
               "bounces": figures.number(d.bounces), "bounce_rate": figures.percent(d.bounce_rate),
               "over": (d.complaint_rate or 0) > stats.WARN_ABOVE}
              for d in reversed(daily)],
        total={"delivered": figures.number(total.delivered), "complaints": figures.number(total.complaints),
               "complaint_rate": figures.percent(total.complaint_rate), "bounces": figures.number(total.bounces),
               "bounce_rate": figures.percent(total.bounce_rate)},
        events=[{"id": e.id, "when": figures.moment(e.created_at, settings.tz), "recipient": e.recipient,
                 "kind": e.kind, "kind_label": KIND_LABELS.get(e.kind, e.kind),
                 "source": SOURCE_LABELS.get(e.source, e.source), "detail": e.detail[:300],
                 "attributed": not e.detail.startswith(stats.UNATTRIBUTED)} for e in log.rows],
        kinds=KIND_LABELS, kind=kind_filter or "",
        newer=_query(kind=kind_filter, q=query, sbefore=sbefore) if before else None,
        older=_query(before=log.next_before, kind=kind_filter, q=query, sbefore=sbefore) if log.next_before else None,
        reasons=[{"label": REASON_LABELS.get(r, r), "count": figures.number(n)} for r, n in sorted(reasons.items())],
        q=query,
        suppressed=[{"address": s.address, "reason": REASON_LABELS.get(s.reason, s.reason),
                     "when": figures.moment(s.created_at, settings.tz)} for s in suppressed.rows],
        truncated=suppressed.truncated,
        s_newer=_query(before=before, kind=kind_filter) if sbefore and not query else None,
        s_older=(_query(before=before, kind=kind_filter, sbefore=suppressed.next_before)
                 if suppressed.next_before and not query else None),
    )
