"""Arabic text helpers: dates, digits and bidi isolation for HTML and plain text. Pure."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from html import escape

from babel.dates import format_date
from hijridate import Gregorian

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
RLM = "\u200f"

# Bidi controls and other invisible format characters that can reorder or hide text.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# A run of left-to-right text inside Arabic: starts and ends with a Latin letter or digit and may
# hold the punctuation of names, numbers with units, addresses and URLs in between.
_LTR_RUN = re.compile(
    r"[A-Za-z0-9\u00c0-\u024f](?:[A-Za-z0-9\u00c0-\u024f .,:;/@_%+\-#&=?~'()]*[A-Za-z0-9\u00c0-\u024f/)])?"
)
_HAS_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")


def digits(text: str, style: str) -> str:
    """Latin digits stay; ``style="arabic"`` turns them into Arabic-Indic (Babel never does)."""
    return text.translate(ARABIC_INDIC) if style == "arabic" else text


def gregorian_date(day: date, *, locale: str = "ar", style: str = "latin") -> str:
    """E.g. "الأربعاء، 25 نوفمبر 2026" (``ar``) or "... تشرين الثاني ..." (``ar_IQ``)."""
    return digits(format_date(day, format="full", locale=locale), style)


def hijri_date(day: date, *, offset_days: int = 0, style: str = "latin") -> str:
    """E.g. "15 جمادى الآخرة 1448 هـ"; ``offset_days`` follows the local moon sighting."""
    hijri = Gregorian.fromdate(day + timedelta(days=offset_days)).to_hijri()
    return digits(f"{hijri.day} {hijri.month_name('ar')} {hijri.year} هـ", style)


def strip_controls(text: str) -> str:
    """Drop control and bidi-override characters (keeps ordinary spaces and newlines out too)."""
    return "".join(
        ch for ch in text
        if ch not in BIDI_CONTROLS and (unicodedata.category(ch)[0] != "C" or ch == "\u200c")
    )


def has_bidi_controls(text: str) -> bool:
    return any(ch in BIDI_CONTROLS for ch in text)


def bidi_html(text: str) -> str:
    """Escape ``text`` and wrap each Latin run in ``<span dir="ltr">`` (``<bdi>`` is dropped by
    Gmail, Outlook and Yahoo). Runs of digits alone need no isolation and are left as they are."""
    out: list[str] = []
    pos = 0
    for match in _LTR_RUN.finditer(text):
        run = match.group(0)
        if not _HAS_LATIN_LETTER.search(run):
            continue
        out.append(escape(text[pos:match.start()]))
        out.append(f'<span dir="ltr">{escape(run)}</span>')
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def bidi_text(text: str) -> str:
    """Plain-text lines that start with a Latin letter or digit get U+200F so they stay RTL."""
    return "\n".join(
        RLM + line if line[:1].isascii() and line[:1].isalnum() else line
        for line in text.split("\n")
    )
