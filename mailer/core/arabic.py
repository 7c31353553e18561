"""Arabic text helpers: dates, digits, headlines and reader-typed text in HTML, plain-text lines. Pure."""

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

# Number ranges and scores ("2-1", "1990–2000", "10:30", "٣-٢"): a browser may break a line
# after the dash. Kept whole by a no-wrap span, which adds no character to what a reader copies.
_NUMBER_RANGE = re.compile(r"[0-9\u0660-\u0669]+(?:[.,\u066b\u066c][0-9\u0660-\u0669]+)*"
                           r"(?:\s?[-\u2010-\u2013:]\s?[0-9\u0660-\u0669]+(?:[.,\u066b\u066c][0-9\u0660-\u0669]+)*)+")
NO_WRAP = '<span style="white-space:nowrap">'
_WORD_END = "،؛,;:.-–— "

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


def first_strong(text: str) -> str | None:
    """``"rtl"`` or ``"ltr"`` by the first strong character (rule P2 of the bidi algorithm, what
    ``dir="auto"`` does), None when there is none (digits, punctuation)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return None


def headline_html(text: str) -> str:
    """Escape a title or summary for a ``dir="rtl"`` block, adding no bidi markup: the Unicode bidi
    algorithm then orders it as the site's own article page does (spans around Latin runs took
    in the brackets and punctuation next to them and scrambled them). Only number ranges and
    scores get a no-wrap span, which changes no order."""
    out: list[str] = []
    pos = 0
    for match in _NUMBER_RANGE.finditer(text):
        out.append(escape(text[pos:match.start()]))
        out.append(f"{NO_WRAP}{escape(match.group())}</span>")
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def isolate_html(text: str) -> str:
    """Escape text a reader or an editor typed (a name in a greeting, a sender's name) and isolate
    all of it as one run in its own direction, so that neither its punctuation nor the sentence
    around it reorders the other. ``<span dir>`` isolates in HTML5 (``<bdi>`` is dropped by
    Gmail, Outlook and Yahoo); the direction is chosen here, as ``dir="auto"`` would."""
    if not text:
        return ""
    return f'<span dir="{first_strong(text) or "rtl"}">{escape(text)}</span>'


def bidi_text(text: str) -> str:
    """Plain-text lines that do not start with a right-to-left letter get U+200F (RLM), so that
    a client that takes a line's direction from its first strong character keeps it RTL: a line
    that starts with a digit, Latin or Arabic-Indic ("١. Apple ..."), a bracket or Latin."""
    return "\n".join(
        RLM + line if line and unicodedata.bidirectional(line[0]) not in ("R", "AL") else line
        for line in text.split("\n")
    )


def cut_at_word(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else cut at the last word that fits, with "…"
    (a preheader or a summary must never end in half a word or half a number)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit]
    if text[limit] != " ":
        head = head.rsplit(" ", 1)[0] if " " in head else head
    return head.rstrip(_WORD_END) + "…"
