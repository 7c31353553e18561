"""What editors read instead of internal words: period keys become day names in the site's time
zone, every status and every reason the service writes becomes Arabic, and an unknown reason is
never shown as it is."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from mailer.core.settings import load_settings
from mailer.delivery.outcomes import REFUSALS_TO_PAUSE
from mailer.editions.curation import STATUS_LABELS
from mailer.editor import labels

SETTINGS = load_settings(None, secret_key="k" * 40)
ARABIC_DIGITS = load_settings(None, secret_key="k" * 40, digits="arabic")
LATIN = re.compile(r"[A-Za-z]")
# 21:50 in Baghdad on Tuesday 1 December 2026
NOW_SEND = datetime(2026, 12, 1, 18, 50, tzinfo=UTC)


def test_period_names_are_days_in_the_sites_time_zone() -> None:
    assert labels.period_name("النشرة اليومية", "digest", "2026-12-01T07:00",
                              datetime(2026, 12, 1, 4, 0, tzinfo=UTC), SETTINGS) == "النشرة اليومية — الثلاثاء 1 ديسمبر"
    assert labels.period_name("النشرة اليومية", "digest", "now-2026-12-01T21:50:00.000", NOW_SEND, SETTINGS) == (
        "النشرة اليومية — الثلاثاء 1 ديسمبر، إرسال فوري الساعة 21:50")
    # 23:30 UTC on Monday is already Tuesday in Baghdad
    assert labels.period_name("عاجل", "alert", "alert-12", datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
                              ARABIC_DIGITS) == "عاجل — تنبيه عاجل، الثلاثاء ١ ديسمبر الساعة ٠٢:٣٠"


REASONS = [
    "no new articles",
    "held by editor sara",
    "paused by editor sara",
    "scheduled 3 h 0 min ago, more than the 120 min allowed: waiting for an editor",
    "published 5 h 12 min ago, more than the 120 min allowed for breaking news: waiting for an editor",
    "daily cap reached (3 of 3 alerts today): waiting for an editor",
    "its articles went out in later editions",
    "its articles went out in edition 4, 9",
    (f"the mail server refused the message {REFUSALS_TO_PAUSE} times in a row (not the mailboxes): 550 5.7.1 "
     "Message rejected: spam; fix the cause, then `mailer editions resume 3`"),
]


@pytest.mark.parametrize("reason", REASONS)
def test_every_reason_the_service_writes_reads_in_arabic(reason: str) -> None:
    shown = labels.reason(reason, SETTINGS)
    assert shown and shown != labels.UNKNOWN_REASON
    assert not LATIN.search(shown.replace("sara", "")), shown  # only an editor's own name stays as typed
    if "sara" in reason:
        assert "\u2068sara\u2069" in shown  # isolated, so the sentence keeps its order


def test_an_unknown_reason_is_not_shown_as_it_is() -> None:
    assert labels.reason("something new went wrong", SETTINGS) == labels.UNKNOWN_REASON
    assert labels.reason(None, SETTINGS) == ""


def test_every_status_has_an_arabic_label() -> None:
    for status in (*STATUS_LABELS, "paused"):
        assert not LATIN.search(labels.status(status))
    assert labels.status("invented") == "حالة أخرى"
