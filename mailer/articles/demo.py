"""Sample data for a first run: Arabic articles built from a real article of the site (in
``demo_data/``), as an RSS 2.0 feed, plus a demo subscriber."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

DATA = Path(__file__).parent / "demo_data" / "sample-article-ar.txt"

# (title, section, index of the paragraph used as the summary); titles are the site's own
# headlines and sentences, so the demo shows real Arabic text, including Latin runs and numbers.
ITEMS = [
    ("تنسيق سوري- عراقي تزامنا مع اقتراب تحرير القائم والبوكمال للسيطرة على الحدود بين البلدين", "العراق", 0),
    ("العراق يرفض اتهام أمريكا للمهندس بالإرهابي", "سياسة", 15),
    ("ديالى: انطلاق عملية عسكرية واسعة لتعقب تنظيم داعش في منطقة حاوي العظيم", "أمن", 17),
    ("سرايا الجهاد لوكالة ارنا (IRNA): الساعات القادمة ستشهد تحرير القائم", "العراق", 9),
    ("أكثر من 250 كيلومتراً من الحدود المشتركة باتت مؤمّنة", "أمن", 6),
]


def paragraphs() -> list[str]:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    body = [line.strip() for line in lines[3:] if line.strip()]
    return [p for p in body if len(p) > 60 and not p.startswith("طباعة الخبر")]


def demo_feed(base_url: str, now: datetime) -> bytes:
    """An RSS 2.0 document with the demo articles, published in the last hour."""
    paras = paragraphs()
    items = []
    for n, (title, section, para) in enumerate(ITEMS, start=1):
        link = f"{base_url}/news/{1000 + n}"
        items.append(
            "<item>"
            f"<title>{escape(title)}</title><link>{link}</link><guid>{link}</guid>"
            f"<category>{escape(section)}</category>"
            f"<description>{escape('<p>' + paras[para % len(paras)] + '</p>')}</description>"
            f"<pubDate>{format_datetime(now - timedelta(minutes=10 * n))}</pubDate>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>أخبار الموقع</title><link>{base_url}</link><description>آخر الأخبار</description>"
        f"<language>ar</language>{''.join(items)}</channel></rss>"
    ).encode()
