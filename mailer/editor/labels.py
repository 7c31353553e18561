"""What the console shows editors instead of the service's internal words: Arabic names for
statuses, for the reasons an edition was held or stopped, and for periods (``now-2026-12-01T21:50``
reads "النشرة اليومية — الثلاثاء 1 ديسمبر، إرسال فوري الساعة 21:50"). Pure: values in, Arabic out.

A reason the table below does not know is never shown as it is (it may be English, or quote a
mail server); the editor gets a general Arabic sentence instead, and the log keeps the original.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from babel.dates import format_date, get_timezone, get_timezone_location

from mailer.core import arabic
from mailer.core.models import ALERT
from mailer.core.settings import Settings
from mailer.editions.curation import STATUS_LABELS

EDITION_STATUS = {**STATUS_LABELS, "paused": "متوقف مؤقتاً"}
OUTBOX_STATUS = {
    "sent": "أُرسلت",
    "skipped": "تُخطّيت",
    "failed": "فشلت",
    "unknown": "مجهولة المصير",
    "pending": "تنتظر",
    "dead": "أُسقطت",
}
KINDS = {"digest": "نشرة", ALERT: "تنبيه عاجل"}
UNKNOWN_REASON = "سبب لم يُترجم بعد؛ تجده كاملاً في سجل الخدمة."


def isolate(text: str) -> str:
    """A name typed in any script, kept as one run inside an Arabic sentence (FSI ... PDI), so
    that neither reorders the other; in plain text, safe in HTML once escaped."""
    return f"\u2068{arabic.strip_controls(text)}\u2069"


def _n(value: str, settings: Settings) -> str:
    return arabic.digits(value, settings.digits)


def _late(match: re.Match[str], settings: Settings, what: str) -> str:
    hours, minutes, allowed = (_n(match[i], settings) for i in (1, 2, 3))
    return (f"{what} قبل {hours} ساعة و{minutes} دقيقة، أي بعد أكثر من {allowed} دقيقة المسموح بها: "
            "ينتظر قرار محرر.")


# (pattern, Arabic) in order; each pattern matches a whole reason the service writes
_REASONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], Settings], str]], ...] = (
    (re.compile(r"no new articles"), lambda m, s: "لا أخبار جديدة منذ العدد السابق."),
    (re.compile(r"held by editor (.+)"), lambda m, s: f"أوقفه المحرر {isolate(m[1])}."),
    (re.compile(r"paused by editor (.+)"), lambda m, s: f"أوقف المحرر {isolate(m[1])} إرساله مؤقتاً."),
    (re.compile(r"scheduled (\d+) h (\d+) min ago, more than the (\d+) min allowed: waiting for an editor"),
     lambda m, s: _late(m, s, "فات موعده")),
    (re.compile(r"published (\d+) h (\d+) min ago, more than the (\d+) min allowed for breaking news: "
                r"waiting for an editor"),
     lambda m, s: _late(m, s, "نُشر الخبر")),
    (re.compile(r"daily cap reached \((\d+) of (\d+) alerts today\): waiting for an editor"),
     lambda m, s: (f"بلغت النشرة حدّها اليومي ({_n(m[1], s)} من {_n(m[2], s)} تنبيهات اليوم): "
                   "ينتظر قرار محرر.")),
    (re.compile(r"its articles went out in later editions"), lambda m, s: "أُرسلت أخباره كلها في أعداد لاحقة."),
    (re.compile(r"its articles went out in edition ([\d, ]+)"),
     lambda m, s: f"أُرسلت أخباره في العدد {_n(m[1].replace(', ', '، '), s)}."),
    (re.compile(r"the mail server refused the message (\d+) times in a row \(not the mailboxes\): (\d*).*",
                re.DOTALL),
     lambda m, s: (f"رفض خادم البريد الرسالة نفسها {_n(m[1], s)} مرات متتالية"
                   + (f" (رمز الرد {_n(m[2], s)})" if m[2] else "")
                   + ": أصلحوا السبب ثم استأنفوا الإرسال.")),
)


def reason(text: str | None, settings: Settings) -> str:
    """The Arabic for a reason the service wrote on an edition; empty for none."""
    if not text:
        return ""
    for pattern, label in _REASONS:
        match = pattern.fullmatch(text.strip())
        if match:
            return label(match, settings)
    return UNKNOWN_REASON


def status(value: str) -> str:
    return EDITION_STATUS.get(value, "حالة أخرى")


def day_name(moment: datetime, settings: Settings) -> str:
    """E.g. "الثلاثاء 1 ديسمبر" in the site's time zone (the year only when it is not this one's)."""
    local = moment.astimezone(settings.tz)
    return _n(format_date(local.date(), format="EEEE d MMMM", locale=settings.date_locale), settings)


def clock_text(moment: datetime, settings: Settings) -> str:
    return _n(moment.astimezone(settings.tz).strftime("%H:%M"), settings)


def moment(at: datetime, settings: Settings) -> str:
    return f"{day_name(at, settings)}، الساعة {clock_text(at, settings)}"


def zone_name(settings: Settings) -> str:
    """The site's time zone as Babel names it in Arabic, e.g. "توقيت العراق" (never "Asia/Baghdad")."""
    return str(get_timezone_location(get_timezone(settings.timezone), locale=settings.date_locale))


def period_name(list_label: str, kind: str, period_key: str, scheduled_at: datetime, settings: Settings) -> str:
    """A human name for an edition, from its scheduled time (the key is only its unique name)."""
    day = day_name(scheduled_at, settings)
    when = clock_text(scheduled_at, settings)
    if kind == ALERT:
        return f"{list_label} — تنبيه عاجل، {day} الساعة {when}"
    if period_key.startswith("now-"):
        return f"{list_label} — {day}، إرسال فوري الساعة {when}"
    return f"{list_label} — {day}"
