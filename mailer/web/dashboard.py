"""The console's dashboard (``/editor/dashboard?days=30|90``): subscribers per list over time, sends
per day, the bounce, complaint and unsubscribe rates and shares per day, as inline SVG charts
drawn on the server (``mailer.editor.charts``), each with its numbers in a table. No script."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from mailer.core.errors import InvalidInput
from mailer.core.settings import Settings
from mailer.editor import charts, stats
from mailer.editor.figures import Figures
from mailer.editor.localdays import last_days
from mailer.web.auth import Editor
from mailer.web.deps import pages_of, service_of
from mailer.web.security import editor_page
from subscribers import history

router = APIRouter()  # mounted under /editor by mailer.web.editor

PERIODS = stats.PERIODS


def check_days(value: str) -> int:
    """The period asked for: 30 or 90 days (the default 30)."""
    value = value.strip()
    if not value:
        return PERIODS[0]
    if value not in {str(p) for p in PERIODS}:
        raise InvalidInput("days", f"{value!r} is not one of {', '.join(map(str, PERIODS))}",
                           public_message="المدة (days) غير صالحة: اختر ٣٠ أو ٩٠ يوماً.")
    return int(value)


def _list_series(settings: Settings, days: list[date], recorded: dict[tuple[date, str], int],
                 today: dict[str, int]) -> list[charts.Series]:
    """One line per list: the snapshots the scheduler took, and today's live count."""
    names = list(settings.lists) or sorted({name for _, name in recorded} | set(today))
    out = []
    for name in names:
        values: list[float | None] = [recorded.get((d, name)) for d in days]
        values[-1] = today.get(name, 0)
        label = settings.lists[name].name if name in settings.lists else name
        out.append(charts.Series(label, values))
    return out


def _table(days: list[date], series: list[charts.Series], fmt: charts.Format,
           figures: Figures) -> dict[str, object]:
    """The numbers of a chart, newest day first, for its table."""
    return {
        "columns": [s.label for s in series],
        "rows": [{"day": figures.long_day(d), "iso": d.isoformat(),
                  "values": ["—" if s.values[i] is None else fmt(s.values[i] or 0) for s in series]}
                 for i, d in reversed(list(enumerate(days)))],
    }


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    request: Request,
    who: Editor,
    days: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    svc = service_of(request)
    settings = svc.settings
    figures = Figures(settings.digits, settings.date_locale)
    period = check_days(days)
    now = svc.clock()
    span = last_days(now, settings.tz, period)
    async with svc.db.transaction() as session:
        daily = await stats.daily(session, settings.tz, span, now)
        recorded = await history.between(session, span[0], span[-1] - timedelta(days=1))
        today = await history.live(session)
    count, percent = figures.number, figures.percent
    lists = _list_series(settings, span, recorded, today)
    sends = charts.Series("رسائل مسلَّمة", [d.delivered for d in daily])
    rates = [charts.Series("الارتداد", [d.bounce_rate for d in daily]),
             charts.Series("الشكاوى", [d.complaint_rate for d in daily]),
             charts.Series("إلغاء الاشتراك", [d.unsubscribe_rate for d in daily])]
    shares = charts.Series("مشاركات أُرسلت", [d.shares for d in daily])
    n = figures.number(period)
    shown = [
        ("subscribers", "المشتركون المؤكَّدون في كل نشرة",
         charts.line_chart("chart-subscribers", "المشتركون المؤكَّدون في كل نشرة",
                           f"عدد المشتركين المؤكَّدين في كل نشرة يوماً بيوم في آخر {n} يوماً، كما سُجّل في "
                           "نهاية كل يوم، واليوم عددهم الآن.",
                           span, lists, fmt=count, day_label=figures.short_day),
         _table(span, lists, count, figures)),
        ("sends", "الرسائل المسلَّمة في اليوم",
         charts.bar_chart("chart-sends", "الرسائل المسلَّمة في اليوم",
                          f"عدد الرسائل التي قبلها خادم البريد في كل يوم من آخر {n} يوماً (دون رسائل التجربة).",
                          span, sends, fmt=count, day_label=figures.short_day),
         _table(span, [sends], count, figures)),
        ("rates", "نسب الارتداد والشكاوى وإلغاء الاشتراك",
         charts.line_chart("chart-rates", "نسب الارتداد والشكاوى وإلغاء الاشتراك",
                           f"نسبة كل منها في كل يوم من آخر {n} يوماً: الارتدادات من محاولات التسليم، والشكاوى "
                           "وإلغاء الاشتراك من الرسائل المسلَّمة.",
                           span, rates, fmt=percent, day_label=figures.short_day,
                           guides=[charts.Guide(stats.GMAIL_LIMIT, "حدّ الشكاوى عند Gmail وYahoo")]),
         _table(span, rates, percent, figures)),
        ("shares", "المشاركات في اليوم",
         charts.bar_chart("chart-shares", "المشاركات في اليوم",
                          f"عدد طلبات «أرسل الخبر إلى صديق» التي قُبلت وأُرسلت في كل يوم من آخر {n} يوماً.",
                          span, shares, fmt=count, day_label=figures.short_day),
         _table(span, [shares], count, figures)),
    ]
    total = stats.totals(daily)
    return editor_page(
        pages_of(request), "dashboard", title="لوحة المتابعة", editor=who, csrf=who.csrf_token,
        period=period, periods=[(p, figures.number(p)) for p in PERIODS], period_label=n,
        charts=[{"id": key, "title": title, "svg": Markup(svg), "table": table}  # noqa: S704  (charts escapes)
                for key, title, svg, table in shown],
        totals=[("رسائل مسلَّمة", count(total.delivered)), ("نسبة الارتداد", percent(total.bounce_rate)),
                ("نسبة الشكاوى", percent(total.complaint_rate)),
                ("نسبة إلغاء الاشتراك", percent(total.unsubscribe_rate)), ("مشاركات", count(total.shares)),
                ("اشتراكات مؤكَّدة الآن في كل النشرات", count(sum(today.values())))],
        first_day=figures.long_day(span[0]), last_day=figures.long_day(span[-1]),
    )
