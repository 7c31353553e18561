"""Bidi in the mail, in Chromium: every headline and summary shows its characters in the order
the site's own article page shows them (the text alone in a ``dir="rtl"`` block), and a name a
reader typed is one run in its own direction (issue 14, point 1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mailer.compose.render import ArticleView
from mailer.core.arabic import first_strong
from mailer.core.settings import Settings
from tests.support import samples
from tests.support.mailview import PLAIN_TWIN, VISUAL_ORDER, one_line, open_mail

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEADLINES = [
    "الأمم المتحدة (UN): 2.5 مليون نازح في السودان",
    "سرايا الجهاد لوكالة ارنا (IRNA): الساعات القادمة ستشهد تحرير القائم",
    "ارنا (IRNA): وفد إيراني يزور بغداد",
    "Apple تكشف عن iPhone 17 Pro بسعر 999 دولاراً",
    "رئيس الوزراء يلتقي وفد صندوق النقد الدولي IMF",
    "«لن نتراجع»: المتظاهرون يواصلون الاعتصام لليوم الـ15",
    "ارتفاع التضخم إلى 12.5% في أكتوبر",
    "النفط يرتفع 3% وبرنت عند 82.4 دولاراً للبرميل",
    "الزوراء يفوز على الشرطة 2-1 في دوري نجوم العراق",
    "ريال مدريد 3 - 0 برشلونة: ثلاثية في الكلاسيكو",
    "انتخابات 2025: المفوضية تعلن النتائج يوم 11/11/2025",
    "موعد المباراة الساعة 20:45 بتوقيت بغداد",
    "تابعوا البث المباشر على https://news.example.com/live?id=5&lang=ar",
    "حملة #أنقذوا_الأهوار تتصدر تويتر بمشاركة #SaveTheMarshes",
    "BBC: انفجار في مرفأ بيروت يخلّف عشرات الجرحى",
    "وزير الخارجية يلتقي نظيره الفرنسي Jean-Noël Barrot",
    "O'Brien يفوز بجائزة أفضل مدرب لعام 2024",
    "شركة Meta (فيسبوك سابقاً) تواجه غرامة بقيمة 1.2 مليار يورو",
    "الدولار يسجل 1,470 ديناراً في بورصة الكفاح",
    "قمة G20 في ريو دي جانيرو: الرئيس يلقي كلمة العراق",
    "COP29: العراق يطالب بتمويل المناخ",
    "المنتخب يتأهل إلى ربع النهائي (كأس آسيا 2027)",
    "مقتل 5 وإصابة 12 في هجوم على طريق بغداد-كركوك",
    "سعر الذهب: 520,000 دينار للمثقال عيار 21",
    "الحكومة: نسبة الإنجاز في ميناء الفاو 75% [تقرير]",
    "«داعش» يتبنى الهجوم... والجيش: الوضع تحت السيطرة",
    "ناسا NASA تطلق مهمة Artemis II نحو القمر",
    "تقرير لـ Reuters: محادثات سرية بين الطرفين",
    "الفريق الوطني يخسر 0-2 أمام اليابان ويودّع البطولة",
    "درجات الحرارة بين 45-50 درجة مئوية هذا الأسبوع",
    "المتحدث باسم الوزارة لـ«الشرق الأوسط»: لا تغيير في الموعد",
    "iOS 18 متاح الآن: ما الجديد؟",
    "مهرجان بابل الدولي ينطلق في 20-25 أيلول",
    "عاجل: انقطاع الكهرباء عن 3 محافظات (البصرة، ميسان، ذي قار)",
    "Le Monde: «الاتفاق النووي» يعود إلى الطاولة",
]
NAMES = ["Sara O'Neil", "John (Jr.)", "محمد (Mo) 22", "أحمد - Ahmed", "O'Brien-2", "سارة"]


def corpus() -> tuple[ArticleView, ...]:
    """Every headline as a title and as a summary, across three sections, half with a photo."""
    sections = ["سياسة", "رياضة", "اقتصاد"]
    return tuple(
        ArticleView(id=n, title=text, url=f"{samples.SITE}/news/{n}", summary=text, section=sections[n % 3],
                    image_url=f"https://news.example.com/images/{n}.jpg" if n % 2 else None)
        for n, text in enumerate(HEADLINES, start=1)
    )


async def order_pairs(page: Any, selector: str, direction: Callable[[str], str]) -> list[tuple[str, str, str]]:
    """(text, its order on screen in the mail, its order alone in a plain block) per element."""
    out = []
    for element in await page.query_selector_all(selector):
        if not await element.is_visible():  # phones hide compact items' summaries
            continue
        text = await element.text_content()
        twin = await page.evaluate_handle(PLAIN_TWIN, [element, direction(text)])
        out.append((text, await element.evaluate(VISUAL_ORDER), await twin.evaluate(VISUAL_ORDER)))
    return out


async def test_headlines_and_summaries_show_as_on_the_sites_own_page(
    browser: Any, make_settings: Callable[..., Settings]
) -> None:
    assert len(HEADLINES) >= 30
    html = samples.html_of(samples.digest(make_settings(), corpus()))
    for width in (600, 375):
        page = await open_mail(browser, html, width=width)
        await one_line(page)
        pairs = await order_pairs(page, ".lead-title a, .item-title a, .summary, .item-summary", lambda _: "rtl")
        assert {text for text, _, _ in pairs} == set(HEADLINES)  # every one was on screen
        wrong = [(text, shown, plain) for text, shown, plain in pairs if shown != plain]
        assert not wrong, "\n".join(f"{t}\n  mail: {s}\n  site: {p}" for t, s, p in wrong)
        await page.close()


@pytest.mark.parametrize("name", NAMES)
async def test_a_readers_name_is_one_run_in_its_own_direction(
    browser: Any, make_settings: Callable[..., Settings], name: str
) -> None:
    settings = make_settings()
    personal = samples.Personal(**{**samples.READER.__dict__, "name": name})
    mails = {
        "digest": samples.html_of(samples.digest(settings, corpus()[:3], personal=personal)),
        "share": samples.html_of(samples.share(settings, corpus()[0], sender_name=name)),
    }
    for kind, html in mails.items():
        page = await open_mail(browser, html, width=600)
        await one_line(page)
        spans = [s for s in await page.query_selector_all(".greeting span[dir]") if await s.text_content() == name]
        assert len(spans) == 1, kind
        (_, shown, alone), = await order_pairs(page, ".greeting span[dir]", lambda t: first_strong(t) or "rtl")
        assert shown == alone, kind
        greeting = await page.eval_on_selector(".greeting", VISUAL_ORDER)
        assert alone in greeting, kind  # its characters stay together, in its own order
        await page.close()
