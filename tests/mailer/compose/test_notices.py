"""One-off subscriber mail: the template path and the reference path give the same message, the
CSS is inlined once per kind and list, and the confirmation link is the notice's own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from mailer.compose.notices import RENDERERS
from mailer.compose.render import Renderer
from mailer.core.settings import Settings
from mailer.delivery.notifier import Notifier
from subscribers import tokens
from subscribers.flows import Notice

AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def parse(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(data)  # type: ignore[return-value]


def content(msg: EmailMessage) -> tuple[dict[str, str], str, str]:
    headers = {k: str(v).strip() for k, v in msg.items() if k != "Content-Type"}  # folding may differ
    return headers, msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


@pytest.fixture
def notifier(make_settings: Callable[..., Settings]) -> Notifier:
    settings = make_settings()
    return Notifier(settings, Renderer(settings))


@pytest.mark.parametrize("kind", sorted(RENDERERS))
async def test_ascii_and_utf8_recipients_get_the_same_message(notifier: Notifier, kind: str) -> None:
    token = tokens.new_confirmation()
    base = Notice(kind, 42, "reader@example.org", "Sara سارة", "weekly", AT, token, AT + timedelta(hours=48))
    fast = parse((await notifier.message(base, installation="0123456789"))[0])
    slow = parse((await notifier.message(Notice(**{**base.__dict__, "recipient": "قارئ@مثال.عراق"}), installation="0123456789"))[0])
    fast_headers, fast_text, fast_html = content(fast)
    slow_headers, slow_text, slow_html = content(slow)
    assert fast_text == slow_text and fast_html == slow_html
    for name in ("From", "Subject", "Date", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert fast_headers.get(name) == slow_headers.get(name), name
    assert fast["To"] == "reader@example.org" and slow["To"] == "قارئ@مثال.عراق"
    assert "Sara سارة" in fast_text
    if kind == "welcome":
        assert "/u/42.weekly." in fast_headers["List-Unsubscribe"] and "/p/42.pref." in fast_text
    else:
        assert "List-Unsubscribe" not in fast_headers
        assert f"https://news.example.com/c/{token}" in fast_text and f"/c/{token}" in fast_html


async def test_css_is_inlined_once_per_kind_and_list(notifier: Notifier, monkeypatch: pytest.MonkeyPatch) -> None:
    import premailer

    calls = []
    original = premailer.Premailer.transform

    def counting(self: premailer.Premailer, *args: object, **kwargs: object) -> str:
        calls.append(1)
        return original(self, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(premailer.Premailer, "transform", counting)
    for n in range(50):
        await notifier.message(Notice("confirm", n + 1, f"r{n}@example.org", None, "daily", AT, tokens.new_confirmation()), installation="0123456789")
    assert len(calls) == 1
    await notifier.message(Notice("confirm", 1, "r@example.org", None, "weekly", AT, tokens.new_confirmation()), installation="0123456789")
    assert len(calls) == 2
