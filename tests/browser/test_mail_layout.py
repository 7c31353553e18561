"""The digest's news layout in Chromium, as a reader's client shows it (issue 14, points 5, 6
and 10, and dark mode): a lead story with a large photo, compact items with the thumbnail beside
the text on wide screens and above it on phones, text only without a photo, sections, a logo;
tidy with images blocked; number ranges never split across lines; readable in dark mode."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from mailer.compose.render import ArticleView
from mailer.core.settings import Settings
from tests.browser.conftest import artifact
from tests.support import samples
from tests.support.mailview import open_mail

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BOX = "(el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"


def sectioned(count: int = 10) -> tuple[ArticleView, ...]:
    """The site's articles in three sections; the fourth has no photo."""
    return samples.articles(count, without_image=(3,))


async def boxes(page: Any, selector: str) -> list[list[float]]:
    return [await el.evaluate(BOX) for el in await page.query_selector_all(selector)]


async def test_lead_story_then_compact_items_beside_on_wide_screens_stacked_on_phones(
    browser: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(logo_url="https://news.example.com/images/logo.png", logo_width=160,
                             site_url="https://www.news.example.com/")
    items = sectioned()
    html = samples.html_of(samples.digest(settings, items))
    for width in (600, 375):
        page = await open_mail(browser, html, width=width)
        await page.screenshot(path=str(artifact(f"digest-layout-{width}.png")), full_page=True)
        # the lead: the edition's first article, its photo as wide as the column
        lead_title = await page.text_content(".lead-title")
        assert lead_title.strip() == items[0].title
        (lead_image,) = await boxes(page, ".lead-image")
        column = await page.eval_on_selector(".lead", "el => el.clientWidth - 2 * parseFloat(getComputedStyle(el).paddingLeft)")
        assert lead_image[2] - lead_image[0] == pytest.approx(min(column, 552), abs=1)  # 552: its width attribute
        # compact items: one per other article; a thumbnail where there is a photo
        titles = [t.strip() for t in await page.eval_on_selector_all(".item-title", "els => els.map(e => e.textContent)")]
        assert sorted(titles) == sorted(a.title for a in items[1:])
        assert len(await page.query_selector_all(".thumb")) == sum(1 for a in items[1:] if a.image_url)
        for item in await page.query_selector_all(".item-box"):
            thumb = await item.query_selector(".thumb")
            text = await item.query_selector(".item-title")
            if thumb is None:
                continue
            t, x = await thumb.evaluate(BOX), await text.evaluate(BOX)
            assert t[2] - t[0] < column / 2  # a thumbnail, not a full-width photo
            if width == 600:  # beside the text, on its right (RTL): no vertical overlap
                assert t[0] >= x[2] - 1 and t[1] < x[3] and x[1] < t[3]
            else:  # above the text
                assert t[3] <= x[1] + 1
        # grouped by section, in the order the edition reaches them
        headings = await page.eval_on_selector_all(".section-name", "els => els.map(e => e.textContent)")
        assert headings == list(dict.fromkeys(a.section for a in items[1:]))
        # the logo, with the site's name as its alt text, leads to the site
        logo = await page.query_selector(".masthead a img.logo")
        assert await logo.get_attribute("alt") == settings.site_name
        assert await page.eval_on_selector(".masthead a", "a => a.href") == "https://www.news.example.com/"
        await page.close()


async def test_one_section_needs_no_headings_and_the_phone_reads_shorter(
    browser: Any, make_settings: Callable[..., Settings]
) -> None:
    items = tuple(replace(a, section="العراق") for a in sectioned())
    html = samples.html_of(samples.digest(make_settings(), items))
    page = await open_mail(browser, html, width=375)
    assert await page.query_selector_all(".section-name") == []
    # ten stories: the phone shows one big photo; the others are thumbnails over their headlines
    heights = await page.eval_on_selector_all("img", "els => els.map(e => e.getBoundingClientRect().height)")
    assert sum(1 for h in heights if h > 150) == 1
    await page.close()


async def test_images_blocked_leave_each_title_once_and_the_columns_in_place(
    browser: Any, make_settings: Callable[..., Settings]
) -> None:
    items = sectioned()
    html = samples.html_of(samples.digest(make_settings(), items))
    alts = re.findall(r'<img [^>]*alt="([^"]*)"', html)
    assert alts and all(alt == "" for alt in alts)  # decorative: the linked title is beside them
    shown = await open_mail(browser, html, width=600)
    blocked = await open_mail(browser, html, width=600, blocked=True)
    await blocked.screenshot(path=str(artifact("digest-images-blocked-600.png")), full_page=True)
    assert await blocked.evaluate("[...document.images].every(i => i.naturalWidth === 0)")
    # what a blocked image shows is its alt text: none of it repeats what is already on screen
    text = await blocked.evaluate("document.body.innerText")
    shown_alts = await blocked.evaluate("[...document.images].map(i => i.alt).filter(a => a.trim())")
    assert [alt for alt in shown_alts if alt in text] == []
    assert all(article.title in text for article in items)
    # the columns stay: a blocked thumbnail keeps its width (its width attribute), so the text
    # beside it neither jumps nor widens
    def columns(found: list[list[float]]) -> list[tuple[float, float]]:
        return [(left, right) for left, _, right, _ in found]

    assert columns(await boxes(blocked, ".item-title")) == columns(await boxes(shown, ".item-title"))
    await shown.close()
    await blocked.close()


SCORES = ["2-1", "0-2", "3-0", "1990-2000", "45-50", "10:30", "٣-٢", "2019–2020"]
WORDS = ["في", "الجولة", "الأخيرة", "من", "دوري", "نجوم", "العراق", "بعد", "مباراة", "مثيرة"]


async def test_scores_and_number_ranges_never_break_across_lines(
    browser: Any, make_settings: Callable[..., Settings]
) -> None:
    """At 375 px every score sits on one line, wherever the line ends near it."""
    items = []
    for n in range(40):
        score = SCORES[n % len(SCORES)]
        words = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(n % 9))
        title = f"فاز الزوراء على الشرطة {words} بنتيجة {score} وتصدر"
        items.append(ArticleView(id=n + 1, title=title, url=f"{samples.SITE}/news/{n}", summary=title))
    html = samples.html_of(samples.digest(make_settings(), tuple(items)))
    page = await open_mail(browser, html, width=375)
    split = await page.evaluate(
        """(scores) => {
          const split = [];
          for (const el of document.querySelectorAll('.lead-title a, .item-title a, .summary')) {
            for (const score of scores) {
              const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
              while (walker.nextNode()) {
                const node = walker.currentNode, at = node.data.indexOf(score);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + score.length);
                const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                if (tops.size > 1) split.push(el.textContent);
              }
            }
          }
          return split;
        }""",
        SCORES,
    )
    await page.screenshot(path=str(artifact("digest-scores-375.png")), full_page=True)
    assert split == []
    # and a reader who copies a score gets the score: nothing invisible was added to it
    copied = await page.evaluate("document.body.innerText")
    assert all(score in copied for score in SCORES)
    await page.close()


def _contrast_js() -> str:
    return """() => {
      const lum = (c) => {
        const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => {
          v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const background = (el) => {
        for (; el; el = el.parentElement) {
          const c = getComputedStyle(el).backgroundColor;
          if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
        }
        return getComputedStyle(document.documentElement).backgroundColor === 'rgba(0, 0, 0, 0)'
          ? 'rgb(255, 255, 255)' : getComputedStyle(document.documentElement).backgroundColor;
      };
      const worst = [];
      for (const el of document.querySelectorAll('body *')) {
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.data.trim());
        if (!own || !el.getClientRects().length || el.closest('.preheader')) continue;
        const fg = lum(getComputedStyle(el).color), bg = lum(background(el));
        const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        if (ratio < 4.5) worst.push([el.className || el.tagName, el.textContent.trim().slice(0, 30), ratio]);
      }
      return {worst, page: lum(background(document.querySelector('.wrapper'))),
              masthead: getComputedStyle(document.querySelector('.masthead')).backgroundColor};
    }"""


@pytest.mark.parametrize("kind", ["digest", "share", "welcome"])
async def test_dark_mode_keeps_the_brand_and_every_text_readable(
    browser: Any, make_settings: Callable[..., Settings], kind: str
) -> None:
    settings = make_settings()
    html = samples.html_of({
        "digest": lambda: samples.digest(settings, sectioned()),
        "share": lambda: samples.share(settings, sectioned()[0]),
        "welcome": lambda: samples.welcome(settings),
    }[kind]())
    assert 'name="color-scheme" content="light dark"' in html
    found = {}
    for scheme in ("light", "dark"):
        page = await open_mail(browser, html, width=600, scheme=scheme)
        await page.screenshot(path=str(artifact(f"{kind}-{scheme}-600.png")), full_page=True)
        found[scheme] = await page.evaluate(_contrast_js())
        await page.close()
        assert found[scheme]["worst"] == [], scheme  # WCAG AA: 4.5:1 for every text
    assert found["light"]["page"] > 0.5 and found["dark"]["page"] < 0.05  # a dark ground in dark mode
    assert found["light"]["masthead"] == found["dark"]["masthead"] == "rgb(122, 14, 18)"  # the brand stays
