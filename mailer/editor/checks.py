"""Checks shown beside a preview, each a plain Arabic sentence: HTML size (Gmail clips at 102 KB),
images without alt text, links that are not HTTPS, a missing unsubscribe, the spam score. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Literal

from mailer.editor.spamcheck import SpamResult

GMAIL_CLIP_BYTES = 102 * 1024
SIZE_WARN_BYTES = 100 * 1024
SAFE_SCHEMES = ("https://", "mailto:", "tel:")

Level = Literal["ok", "info", "warn", "error"]


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    message: str  # Arabic, for the editor
    details: tuple[str, ...] = ()  # what is wrong, e.g. the offending links


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values)
        elif tag == "a" and values.get("href") is not None:
            self.links.append((values["href"] or "").strip())


def part_text(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    return str(part.get_content()) if part is not None else ""


def _kb(size: int) -> str:
    return f"{size / 1024:.1f}"


def size_check(html: str) -> Check:
    size = len(html.encode("utf-8"))
    if size > SIZE_WARN_BYTES:
        return Check("size", "warn",
                     f"حجم نسخة HTML هو {_kb(size)} كيلوبايت، أكثر من 100 كيلوبايت: يقصّ Gmail الرسالة عند "
                     "102 كيلوبايت ويخفي بقيتها خلف رابط «عرض الرسالة كاملة». قلّل عدد الأخبار أو طولها.")
    return Check("size", "ok", f"حجم نسخة HTML هو {_kb(size)} كيلوبايت، دون حدّ القصّ في Gmail (102 كيلوبايت).")


def alt_check(html: str) -> Check:
    """Every image needs an alt attribute; an empty one marks a decorative image (a photo beside
    its linked headline), which screen readers skip and blocked images leave blank."""
    scan = _Scan()
    scan.feed(html)
    missing = [img.get("src") or "" for img in scan.images if img.get("alt") is None]
    if not scan.images:
        return Check("alt", "ok", "لا صور في الرسالة.")
    if missing:
        return Check("alt", "warn",
                     f"{len(missing)} من {len(scan.images)} صورة بلا نص بديل (alt): لن يعرف قارئ الشاشة "
                     "ولا من حُجبت عنه الصور ما فيها.", tuple(missing))
    decorative = sum(1 for img in scan.images if not (img.get("alt") or "").strip())
    return Check("alt", "ok", f"لكل الصور ({len(scan.images)}) نص بديل، منها {decorative} زخرفية بنص فارغ "
                 "لأن عنوان الخبر بجانبها.")


def https_check(html: str) -> Check:
    scan = _Scan()
    scan.feed(html)
    unsafe = [href for href in scan.links if not href.lower().startswith(SAFE_SCHEMES)]
    if unsafe:
        return Check("https", "warn",
                     f"{len(unsafe)} رابط لا يستخدم HTTPS: قد يحذّر منه البريد أو يعترضه وسيط.",
                     tuple(dict.fromkeys(unsafe)))
    return Check("https", "ok", f"كل الروابط ({len(scan.links)}) تستخدم HTTPS.")


def unsubscribe_check(msg: EmailMessage, html: str, text: str, url: str | None, required: bool) -> Check:
    if not required:
        return Check("unsubscribe", "info", "رسالة فردية لا نشرة: لا يلزمها رابط إلغاء اشتراك.")
    missing = []
    header = str(msg.get("List-Unsubscribe", ""))
    if "<https://" not in header:
        missing.append("ترويسة List-Unsubscribe برابط HTTPS")
    if "<mailto:" not in header:
        missing.append("عنوان mailto في ترويسة List-Unsubscribe")
    if str(msg.get("List-Unsubscribe-Post", "")) != "List-Unsubscribe=One-Click":
        missing.append("ترويسة List-Unsubscribe-Post (إلغاء بنقرة واحدة)")
    scan = _Scan()
    scan.feed(html)
    if url is None or url not in scan.links:
        missing.append("رابط في نسخة HTML")
    if url is None or url not in text:
        missing.append("رابط في النسخة النصية")
    if missing:
        return Check("unsubscribe", "error", "إلغاء الاشتراك ناقص، ينقصه: " + "؛ ".join(missing) + ".")
    return Check("unsubscribe", "ok",
                 "إلغاء الاشتراك متاح: في الترويسة (بنقرة واحدة وبالبريد) وفي نسختي HTML والنص.")


def spam_check(result: SpamResult) -> Check:
    rules = tuple(f"{r.points:+.1f} {r.name}: {r.description}" for r in result.rules if r.points)
    if result.status == "missing":
        return Check("spam", "info", "مدقّق الرسائل المزعجة SpamAssassin غير مثبّت على هذا الخادم، "
                     "فلا درجة لعرضها.", (result.detail,))
    if result.status == "timeout":
        return Check("spam", "warn", "لم يُنهِ SpamAssassin الفحص في الوقت المحدد.", (result.detail,))
    if result.status == "failed" or result.score is None or result.required is None:
        return Check("spam", "warn", "تعذّر تشغيل SpamAssassin.", (result.detail,))
    score = f"{result.score:.1f} من {result.required:.1f}"
    if result.is_spam:
        return Check("spam", "error", f"درجة SpamAssassin هي {score}: ستُعدّ الرسالة مزعجة.", rules)
    if result.score >= result.required / 2:
        return Check("spam", "warn", f"درجة SpamAssassin هي {score}: قريبة من حدّ الرسائل المزعجة.", rules)
    return Check("spam", "ok", f"درجة SpamAssassin هي {score}: بعيدة عن حدّ الرسائل المزعجة.", rules)


def check_message(msg: EmailMessage, *, unsubscribe_url: str | None, needs_unsubscribe: bool) -> list[Check]:
    """Every check that needs nothing but the message itself."""
    html = part_text(msg, "html")
    text = part_text(msg, "plain")
    return [
        size_check(html),
        alt_check(html),
        https_check(html),
        unsubscribe_check(msg, html, text, unsubscribe_url, needs_unsubscribe),
    ]
