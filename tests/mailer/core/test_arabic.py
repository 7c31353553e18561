"""Arabic helpers: dates, digits, bidi isolation (property-tested: isolation never changes text)."""

from __future__ import annotations

import html
import re
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from mailer.core import arabic

TAG = re.compile(r"</?span[^>]*>")


def test_gregorian_dates_use_arabic_month_names() -> None:
    day = date(2026, 11, 25)
    assert arabic.gregorian_date(day) == "الأربعاء، 25 نوفمبر 2026"
    assert arabic.gregorian_date(day, locale="ar_IQ") == "الأربعاء، 25 تشرين الثاني 2026"
    assert arabic.gregorian_date(day, style="arabic") == "الأربعاء، ٢٥ نوفمبر ٢٠٢٦"


def test_hijri_date_and_its_offset() -> None:
    assert arabic.hijri_date(date(2026, 11, 25)) == "15 جمادى الآخرة 1448 هـ"
    assert arabic.hijri_date(date(2026, 11, 25), offset_days=1, style="arabic") == "١٦ جمادى الآخرة ١٤٤٨ هـ"


def test_latin_runs_are_isolated() -> None:
    out = arabic.bidi_html("قال Donald Trump إن 250 كيلومتراً في https://example.com/a?b=1&c=2")
    assert '<span dir="ltr">Donald Trump</span>' in out
    assert '<span dir="ltr">https://example.com/a?b=1&amp;c=2</span>' in out
    assert "250" in out and '<span dir="ltr">250' not in out  # digits alone need no isolation


def test_plain_text_lines_starting_latin_get_rlm() -> None:
    assert arabic.bidi_text("1. خبر\nخبر\nIRNA: خبر") == "\u200f1. خبر\nخبر\n\u200fIRNA: خبر"


@given(st.text(max_size=200))
def test_isolation_never_changes_the_text(text: str) -> None:
    out = arabic.bidi_html(text)
    assert html.unescape(TAG.sub("", out)) == text
    assert "<" not in TAG.sub("", out)  # everything but our spans is escaped


@given(st.text(alphabet="abcXYZ019 ءابتثجحخ.-/@:", max_size=80))
def test_every_latin_letter_ends_up_inside_an_ltr_span(text: str) -> None:
    out = arabic.bidi_html(text)
    outside = re.sub(r'<span dir="ltr">.*?</span>', "", out)
    assert not re.search(r"[A-Za-z]", html.unescape(outside))


def test_controls_are_stripped_and_detected() -> None:
    assert arabic.has_bidi_controls("abc\u202edef")
    assert arabic.strip_controls("a\u202eb\u200fc\r\nd\x00") == "abcd"
