"""The checks beside a preview, on messages built by the composing code, and the spam score
from the real SpamAssassin where it is installed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailer.compose import notices
from mailer.compose.message import Personal, Rendered, build_message, to_bytes
from mailer.compose.render import Renderer
from mailer.core.headers import Identity
from mailer.core.settings import Settings
from mailer.editor.checks import SIZE_WARN_BYTES, alt_check, check_message, https_check, size_check, spam_check
from mailer.editor.spamcheck import Rule, SpamResult, parse_report, spam_score
from tests.support import samples

DATE = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://news.example.com/u/tok"


@pytest.fixture
def identity(make_settings) -> Identity:
    settings: Settings = make_settings()
    return Identity.for_list(settings, "daily")


def message(identity: Identity, body: str, *, list_headers: bool = True, text: str = "") -> object:
    html = f'<html dir="rtl" lang="ar"><body>{body}</body></html>'
    rendered = Rendered(subject="النشرة", html=html, text=text or "نص الرسالة")
    return build_message(rendered, identity, DATE, Personal(to="r@example.org", message_id="m1", token="tok"),
                         list_headers=list_headers)


def by_name(checks: list) -> dict:
    return {c.name: c for c in checks}


def test_size_warns_above_100_kb_because_gmail_clips_at_102() -> None:
    arabic = "خبر " * (SIZE_WARN_BYTES // 7)  # 7 bytes per repeat: Arabic is two bytes a letter
    small, large = size_check(arabic[: len(arabic) // 2]), size_check(arabic + "خبر " * 200)
    assert small.level == "ok" and "102" in small.message
    assert large.level == "warn" and "Gmail" in large.message and "102" in large.message


def test_images_without_alt_text_are_listed() -> None:
    body = ('<img src="https://cdn.example.com/a.jpg"><img src="https://cdn.example.com/b.jpg" alt="">'
            '<img src="https://cdn.example.com/c.jpg" alt="صورة الوزير">')
    found = alt_check(body)
    assert found.level == "warn" and found.details == ("https://cdn.example.com/a.jpg",)
    assert found.message.startswith("1 من 3")
    assert alt_check('<img src="https://x.example/a.png" alt="خريطة">').level == "ok"
    # an empty alt marks a decorative image (a photo beside its linked headline): nothing missing
    decorative = alt_check('<img src="https://x.example/a.png" alt=""><img src="https://x.example/b.png" alt="خريطة">')
    assert decorative.level == "ok" and "منها 1 زخرفية" in decorative.message


def test_links_that_are_not_https_are_listed() -> None:
    body = ('<a href="https://news.example.com/1">1</a><a href="http://news.example.com/2">2</a>'
            '<a href="mailto:desk@news.example.com">m</a><a href="/relative">r</a><a href="http://news.example.com/2">2</a>')
    found = https_check(body)
    assert found.level == "warn" and found.details == ("http://news.example.com/2", "/relative")
    assert https_check('<a href="https://a.example/">a</a>').level == "ok"


def test_unsubscribe_is_needed_in_headers_html_and_text(identity: Identity) -> None:
    link = f'<a href="{UNSUBSCRIBE}">إلغاء الاشتراك</a>'
    good = message(identity, link, text=f"لإلغاء الاشتراك: {UNSUBSCRIBE}")
    assert by_name(check_message(good, unsubscribe_url=UNSUBSCRIBE, needs_unsubscribe=True))["unsubscribe"].level == "ok"

    no_link = message(identity, "<p>بلا رابط</p>", text=f"لإلغاء الاشتراك: {UNSUBSCRIBE}")
    found = by_name(check_message(no_link, unsubscribe_url=UNSUBSCRIBE, needs_unsubscribe=True))["unsubscribe"]
    assert found.level == "error" and "HTML" in found.message and "النصية" not in found.message

    no_headers = message(identity, link, list_headers=False, text=f"لإلغاء الاشتراك: {UNSUBSCRIBE}")
    found = by_name(check_message(no_headers, unsubscribe_url=UNSUBSCRIBE, needs_unsubscribe=True))["unsubscribe"]
    assert found.level == "error" and "List-Unsubscribe" in found.message

    single = message(identity, "<p>رسالة فردية</p>", list_headers=False)
    assert by_name(check_message(single, unsubscribe_url=None, needs_unsubscribe=False))["unsubscribe"].level == "info"


def test_spam_levels_follow_the_threshold() -> None:
    rules = (Rule("HTML_MESSAGE", 0.001, "HTML included in message"),)
    assert spam_check(SpamResult("scored", 0.7, 5.0, rules)).level == "ok"
    assert spam_check(SpamResult("scored", 3.1, 5.0)).level == "warn"
    spam = spam_check(SpamResult("scored", 6.2, 5.0))
    assert spam.level == "error" and "6.2 من 5.0" in spam.message
    missing = spam_check(SpamResult("missing", detail="'spamassassin' is not installed"))
    assert missing.level == "info" and "غير مثبّت" in missing.message


async def test_spam_score_from_the_real_spamassassin(identity: Identity) -> None:
    if shutil.which("spamassassin") is None:
        pytest.skip("spamassassin is not installed (Debian package 'spamassassin')")
    data = to_bytes(message(identity, f'<p>نشرة اليوم</p><a href="{UNSUBSCRIBE}">إلغاء الاشتراك</a>'))
    result = await spam_score(data, "spamassassin", timeout=60)
    assert result.status == "scored" and result.required == 5.0 and result.score is not None
    assert any(rule.name for rule in result.rules)
    assert spam_check(result).message.startswith("درجة SpamAssassin")


async def test_spam_checker_missing_or_too_slow(tmp_path: Path) -> None:
    missing = await spam_score(b"Subject: x\r\n\r\nx\r\n", str(tmp_path / "no-such-spamassassin"), timeout=5)
    assert missing.status == "missing"
    slow = tmp_path / "slow-spamassassin"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    timed_out = await spam_score(b"Subject: x\r\n\r\nx\r\n", str(slow), timeout=0.5)
    assert timed_out.status == "timeout" and spam_check(timed_out).level == "warn"


def test_report_parsing_handles_folded_headers_and_wrapped_rules() -> None:
    output = (
        "X-Spam-Checker-Version: SpamAssassin 4.0.1\n"
        "X-Spam-Status: Yes, score=7.3 required=5.0 tests=HTML_MESSAGE,\n"
        "\tMIME_HTML_ONLY autolearn=disabled version=4.0.1\n\nbody\n"
        "Content analysis details:   (7.3 points, 5.0 required)\n\n"
        " pts rule name              description\n"
        "---- ---------------------- --------------------------------------------------\n"
        " 0.0 HTML_MESSAGE           BODY: HTML included in message\n"
        " 7.3 MIME_HTML_ONLY         BODY: Message only has text/html MIME parts and\n"
        "                            nothing else\n\n"
    )
    result = parse_report(output)
    assert (result.status, result.score, result.required, result.is_spam) == ("scored", 7.3, 5.0, True)
    assert [r.name for r in result.rules] == ["HTML_MESSAGE", "MIME_HTML_ONLY"]
    assert result.rules[1].description.endswith("parts and nothing else")
    assert parse_report("no headers at all").status == "failed"


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_every_kind_of_mail_scores_at_most_half_a_point(make_settings: Callable[..., Settings]) -> None:
    """SpamAssassin with its local tests (``-L``) on the mail as sent (issue 14, point 11)."""
    if shutil.which("spamassassin") is None:
        pytest.skip("spamassassin is not installed (Debian package 'spamassassin')")
    settings = make_settings(site_url="https://www.news.example.com/")
    identity = Identity.for_list(settings, "daily")
    mails = {
        "digest": samples.digest(settings, samples.articles(5)),
        "digest of 20": samples.digest(settings, samples.articles(20)),
        "share": samples.share(settings, samples.articles(1)[0]),
    }
    for kind, make in notices.RENDERERS.items():
        rendered = make(Renderer(settings), identity, settings.site_url)
        mails[kind] = to_bytes(build_message(rendered, identity, samples.DATE, samples.READER, kind=kind,
                                             list_headers=notices.LIST_HEADERS[kind]))
    scores = {kind: await spam_score(data, "spamassassin", timeout=120) for kind, data in mails.items()}
    assert all(result.status == "scored" for result in scores.values()), scores
    assert {kind: r.score for kind, r in scores.items() if r.score is None or r.score > 0.5} == {}
