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


def test_headlines_get_no_bidi_markup_and_ranges_do_not_break() -> None:
    out = arabic.headline_html("الأمم المتحدة (UN): 2.5 مليون، والنتيجة 2-1 في 10:30 <b>")
    assert "dir=" not in out and "&lt;b&gt;" in out
    assert out.count(arabic.NO_WRAP) == 2
    assert f"{arabic.NO_WRAP}2-1</span>" in out and f"{arabic.NO_WRAP}10:30</span>" in out
    assert "2.5" in out and f"{arabic.NO_WRAP}2.5" not in out  # a lone number has nothing to break at


def test_reader_text_is_isolated_whole_in_its_own_direction() -> None:
    assert arabic.isolate_html("John (Jr.) <x>") == '<span dir="ltr">John (Jr.) &lt;x&gt;</span>'
    assert arabic.isolate_html("سارة (Sara)") == '<span dir="rtl">سارة (Sara)</span>'
    assert arabic.isolate_html("2024") == '<span dir="rtl">2024</span>'  # no strong letter: the context's
    assert arabic.isolate_html("") == ""


def test_plain_text_lines_not_starting_rtl_get_rlm_whatever_the_digits() -> None:
    assert arabic.bidi_text("1. خبر\nخبر\nIRNA: خبر") == "\u200f1. خبر\nخبر\n\u200fIRNA: خبر"
    # Arabic-Indic digits are weak too: "١. Apple ..." would otherwise take Apple's direction
    assert arabic.bidi_text("١. Apple تكشف\n«خبر»\n") == "\u200f١. Apple تكشف\n\u200f«خبر»\n"


def test_cut_at_word_never_cuts_a_word_or_a_number() -> None:
    text = "الحكومة تعلن خطة لخفض الانبعاثات بحلول عام 2030 وتفاصيل أخرى"
    assert arabic.cut_at_word(text, 200) == text
    cut = arabic.cut_at_word(text, 46)
    assert cut.endswith("…") and text.startswith(cut[:-1]) and "203" not in cut
    assert text[len(cut) - 1] == " "  # it stopped where a word ends


@given(st.text(max_size=200), st.integers(min_value=1, max_value=120))
def test_cut_is_a_prefix_of_whole_words(text: str, limit: int) -> None:
    folded = " ".join(text.split())
    cut = arabic.cut_at_word(text, limit)
    if cut == folded:
        return
    assert cut.endswith("…") and len(cut) <= limit + 1
    kept = cut[:-1]
    assert folded.startswith(kept)
    if " " in folded[:limit]:
        assert folded[len(kept)] in " ،؛,;:.-–—"  # a word (and what ends it) kept whole


@given(st.text(max_size=200))
def test_headline_and_isolation_never_change_the_text(text: str) -> None:
    for out in (arabic.headline_html(text), arabic.isolate_html(text)):
        assert html.unescape(TAG.sub("", out)) == text
        assert "<" not in TAG.sub("", out)  # everything but our spans is escaped


def test_controls_are_stripped_and_detected() -> None:
    assert arabic.has_bidi_controls("abc\u202edef")
    assert arabic.strip_controls("a\u202eb\u200fc\r\nd\x00") == "abcd"
