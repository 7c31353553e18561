"""The digest, share and notice mail as rendered (issue 14, points 3, 4, 7 and 8, the size
budget and the subject options): real renders of the site's articles, read back from MIME."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mailer.compose.render import ArticleView, DigestView, Renderer
from mailer.core.arabic import NO_WRAP, first_strong
from mailer.core.headers import Identity
from mailer.core.settings import Settings
from tests.support import samples

ROOT = Path(__file__).resolve().parents[3]
PREHEADER = re.compile(r'<div class="preheader"[^>]*>(.*?)[\u034f\u200c\u00a0]', re.S)


def rtl_line(line: str) -> bool:
    """A line any client shows right to left: it starts with a right-to-left letter or RLM (so
    its first strong character is right-to-left, whatever digits or Latin follow)."""
    return unicodedata.bidirectional(line[0]) in ("R", "AL") and first_strong(line) == "rtl"


def test_plain_text_lines_stay_rtl_with_arabic_indic_digits(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(digits="arabic")
    items = (*samples.articles(3), ArticleView(id=9, title="Apple تكشف عن iPhone 17", url=f"{samples.SITE}/news/9",
                                               summary="iPhone 17 Pro بسعر 999 دولاراً", section="تقنية"))
    text = samples.text_of(samples.digest(settings, items))
    assert "٤. Apple تكشف" in text  # numbered with Arabic-Indic digits
    lines = [line for line in text.splitlines() if line.strip()]
    assert [line for line in lines if not rtl_line(line)] == []


def test_images_keep_their_pixel_widths_for_outlook(make_settings: Callable[..., Settings]) -> None:
    html = samples.html_of(samples.digest(make_settings(), samples.articles(6)))
    images = re.findall(r"<img [^>]*>", html)
    lead, *thumbs = images
    assert 'width="552"' in lead and all('width="128"' in t for t in thumbs) and thumbs
    assert not any('width="100%"' in img or 'height="auto"' in img for img in images)
    assert "max-width:552px" in lead.replace(" ", "")  # responsive clients still scale it


def test_the_preheader_is_the_lead_headline_or_a_line_cut_at_a_word(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    items = samples.articles(4)
    digest = PREHEADER.search(samples.html_of(samples.digest(settings, items)))
    assert digest and digest.group(1) == items[0].title
    long = replace(items[0], summary="يتوقع خبراء الطاقة أن تتجاوز حصة الطاقة المتجددة نصف إنتاج الكهرباء في البلاد "
                                      "بحلول عام 2030 إذا استمرت وتيرة الاستثمار الحالية في مشاريع الطاقة الشمسية")
    share = PREHEADER.search(samples.html_of(samples.share(settings, long)))
    assert share
    cut = share.group(1)
    assert cut.endswith("…") and long.summary.startswith(cut[:-1])
    assert long.summary[len(cut) - 1] == " "  # it stopped at the end of a word, not inside "2030"


def test_the_features_label_is_spelt_right_everywhere(make_settings: Callable[..., Settings]) -> None:
    right, wrong = "إرسال الخبر إلى صديق", "ارسال الخبر الى صديق"
    share = samples.share(make_settings(), samples.articles(1)[0])
    assert right in samples.html_of(share) and right in samples.text_of(share)
    for folder in ("templates", "mailer/web", "mailer/compose", "mailer/shares"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".html", ".txt", ".py"):
                assert wrong not in path.read_text(encoding="utf-8"), path
    assert wrong not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_twenty_articles_stay_under_80_kb_of_html(make_settings: Callable[..., Settings]) -> None:
    """The site's own paragraphs as summaries and a photo for each: Gmail clips at 102 KB."""
    html = samples.html_of(samples.digest(make_settings(), samples.articles(20, without_image=())))
    assert len(re.findall(r'class="item-title"', html)) == 19
    assert len(html.encode()) < 80 * 1024
    # Gmail keeps <style> in <head> only: one block, the media queries premailer could not inline
    head, body = html.split("</head>", 1)
    assert "<style" not in body and head.count("<style") == 2  # ours and Outlook's conditional one
    assert "prefers-color-scheme: dark" in head and "max-width: 480px" in head


def test_subject_is_the_title_and_date_or_the_lead_headline(make_settings: Callable[..., Settings]) -> None:
    items = samples.articles(3)
    dated = samples.parse(samples.digest(make_settings(), items))
    assert str(dated["Subject"]) == "أخبار الموقع: النشرة اليومية - 25 نوفمبر 2026"
    headline = samples.parse(samples.digest(make_settings(digest_subject="headline"), items))
    assert str(headline["Subject"]) == items[0].title
    preheader = PREHEADER.search(samples.html_of(samples.digest(make_settings(digest_subject="headline"), items)))
    assert preheader and items[0].summary.startswith(preheader.group(1).rstrip("…"))  # not the subject again


def test_the_web_version_has_no_personal_part(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    identity = Identity.for_list(settings, "daily")
    view = DigestView("daily", samples.DATE.date(), samples.articles(4), site_url=samples.SITE,
                      web_url=identity.web_url(7), archive_url=identity.archive_url())
    web = Renderer(settings).digest(view, identity, web=True).html
    mail = Renderer(settings).digest(view, identity).html
    assert identity.web_url(7) in mail and "عرض النشرة في المتصفح" in mail
    for personal in ("mailerslot", "/u/", "/p/", "مرحباً", "عرض النشرة في المتصفح"):
        assert personal not in web
    assert all(a.title in web for a in view.articles)
    assert f'href="{settings.base_url}/subscribe"' in web and identity.archive_url() in web


def test_number_ranges_get_no_wrap_and_nothing_else(make_settings: Callable[..., Settings]) -> None:
    item = ArticleView(id=1, title="الزوراء 2-1 الشرطة", url=f"{samples.SITE}/news/1", summary="بين 45-50 درجة")
    html = samples.html_of(samples.digest(make_settings(), (item,)))
    assert f"{NO_WRAP}2-1</span>" in html and f"{NO_WRAP}45-50</span>" in html
    assert 'dir="ltr"' not in html  # headlines carry no bidi markup
