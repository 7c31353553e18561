"""Each defence of the share endpoint, attacked: every attempt gets a clear Arabic refusal with the
right status, is recorded with its reason, and sends nothing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from subscribers import suppression
from tests.mailer.shares.conftest import Harness

ShareApp = Callable[..., Awaitable[Harness]]
INJECTION = "x\r\nBcc: victim@evil.example"


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("article_id", "invalid_article_id"),
        ("friend_email", "several_recipients"),
        ("sender_name", "control_sender_name"),
        ("sender_email", "invalid_sender_email"),
        ("note", "note_disabled"),
        ("form_token", "bad_form_token"),
        ("website", "honeypot"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
async def test_header_injection_in_every_field(share_app: ShareApp, field: str, reason: str, as_json: bool) -> None:
    h = await share_app()
    article_id = await h.article()
    reply = await h.share(article_id, as_json=as_json, **{field: INJECTION})
    await h.assert_refused(reply, 400, reason)
    if as_json:
        assert reply.json()["field"] == field


@pytest.mark.parametrize("number", ["²", "١٢", "１２", "12a", "-1", "1234567890123"])
async def test_an_article_number_that_is_not_plain_digits(share_app: ShareApp, number: str) -> None:
    # "²" passes str.isdigit() and int() refuses it: found by the API fuzzer as a 500
    h = await share_app()
    article_id = await h.article()
    await h.assert_refused(await h.share(article_id, article_id=number), 400, "invalid_article_id")


async def test_header_injection_in_the_note_when_notes_are_on(share_app: ShareApp) -> None:
    h = await share_app(share_note_enabled=True)
    article_id = await h.article()
    await h.assert_refused(await h.share(article_id, note=INJECTION), 400, "address_note")
    await h.assert_refused(await h.share(article_id, note="x\rBcc: y"), 400, "control_note")
    # a line break typed in the note is folded into the body's one paragraph, never a header
    assert (await h.share(article_id, note="سطر\r\nBcc: ضحية")).status_code == 202
    msg = (await h.deliver())[0].message
    assert msg["Bcc"] is None and "ضحية" not in "".join(f"{k}{v}" for k, v in msg.items())
    assert "«سطر Bcc: ضحية»" in msg.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    "friend_email",
    [
        "one@example.org, two@example.org",
        "one@example.org; two@example.org",
        "one@example.org,two@example.org",
        "one@example.org\r\ntwo@example.org",
        "one@example.org\r\nCc: two@example.org",
        "one@example.org two@example.org",
        "Friend <one@example.org>, two@example.org",
        "=?utf-8?q?one=40example=2Eorg=2C_two=40example=2Eorg?=",
        "=?utf-8?q?one=40example.org=2C?=@example.org",
        "=?utf-8?b?b25lQGV4YW1wbGUub3JnLCB0d29AZXhhbXBsZS5vcmc=?= <one@example.org>",
        '"one@example.org, two"@example.org',
        "one@example.org\x00two@example.org",
    ],
)
async def test_second_recipient_smuggled_into_the_address(share_app: ShareApp, friend_email: str) -> None:
    h = await share_app()
    reply = await h.share(await h.article(), friend_email=friend_email)
    assert reply.status_code == 400
    assert (await h.records())[-1].outcome in ("several_recipients", "invalid_friend_email")
    await h.assert_refused(reply, 400, (await h.records())[-1].outcome)


async def test_second_recipient_as_a_repeated_form_field(share_app: ShareApp) -> None:
    h = await share_app()
    article_id = await h.article()
    token = await h.token(article_id)
    h.clock.advance(seconds=5)
    fields = [*h.fields(article_id, token).items(), ("friend_email", "two@example.org")]
    reply = await h.client.post("/share", content="&".join(f"{k}={v}" for k, v in fields),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    await h.assert_refused(reply, 400, "several_recipients")
    assert "صديق واحد" in reply.text


@pytest.mark.parametrize("value", [["one@example.org", "two@example.org"], {"to": "two@example.org"}])
async def test_second_recipient_as_a_json_list_or_object(share_app: ShareApp, value: object) -> None:
    h = await share_app()
    await h.assert_refused(await h.share(await h.article(), as_json=True, friend_email=value), 400,
                           "several_recipients")


async def test_second_recipient_as_a_repeated_json_key(share_app: ShareApp) -> None:
    h = await share_app()
    article_id = await h.article()
    token = await h.token(article_id)
    h.clock.advance(seconds=5)
    body = json.dumps(h.fields(article_id, token))[:-1] + ', "friend_email": "two@example.org"}'
    reply = await h.client.post("/share", content=body, headers={"Content-Type": "application/json"})
    await h.assert_refused(reply, 400, "several_recipients")


# (``url`` and ``guid`` are fields: they name the article by the site's identity, see
# test_share_by_site_identity.py; a link that is not a stored article's is never sent)
@pytest.mark.parametrize("extra", ["cc", "bcc", "to", "reply_to", "link", "subject"])
async def test_fields_the_form_does_not_have_are_refused(share_app: ShareApp, extra: str) -> None:
    h = await share_app()
    reply = await h.share(await h.article(), **{extra: "two@example.org"})
    await h.assert_refused(reply, 400, "unknown_field")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Ahmed https://evil.example/x", "url_sender_name"),
        ("أحمد evil.example", "url_sender_name"),
        ("زوروا موقعنا مثال.عراق", "url_sender_name"),
        ("www evil com", "url_sender_name"),
        ("evil．example", "url_sender_name"),  # a full-width dot
        ("click javascript:alert", "url_sender_name"),
        ("أحمد @ahmed", "address_sender_name"),
        ("أحمد ＠ evil", "address_sender_name"),  # a full-width @
        ("أحمد\u202eلاعب", "control_sender_name"),  # RIGHT-TO-LEFT OVERRIDE
        ("\u2066Ahmed\u2069", "control_sender_name"),  # LEFT-TO-RIGHT ISOLATE
        ("Ahmed\u200e", "control_sender_name"),  # LEFT-TO-RIGHT MARK
        ("Ahmed\u2028Bcc", "control_sender_name"),  # LINE SEPARATOR
        ("Ahmed\tAli", "control_sender_name"),
        ("اتصل 0770 123 4567", "number_sender_name"),
        ("أ" * 41, "long_sender_name"),
        ("  ", "invalid_sender_name"),
        ("12345", "invalid_sender_name"),
    ],
)
async def test_url_address_bidi_override_or_control_in_the_name(share_app: ShareApp, name: str, reason: str) -> None:
    h = await share_app()
    reply = await h.share(await h.article(), sender_name=name)
    await h.assert_refused(reply, 400, reason)
    assert "الاسم" in reply.text or reason == "invalid_sender_name"


async def test_a_refused_form_comes_back_filled_in_with_the_reason(share_app: ShareApp) -> None:
    h = await share_app()
    reply = await h.share(await h.article(), sender_name="Ahmed evil.example", friend_email="friend@example.org")
    assert reply.status_code == 400
    assert 'role="alert"' in reply.text and "لا يقبل الاسم الروابط" in reply.text
    assert 'value="friend@example.org"' in reply.text and 'value="Ahmed evil.example"' in reply.text


async def test_unknown_article_id(share_app: ShareApp) -> None:
    h = await share_app()
    article_id = await h.article()
    token = await h.token(article_id)
    h.clock.advance(seconds=5)
    for path in ("/share/999999", "/share/abc", "/share/%D9%A1"):
        page = await h.client.get(path)
        assert page.status_code == 404 and "غير موجود" in page.text
    # a token for another article does not open this one
    reply = await h.client.post("/share", data=h.fields(999999, token))
    await h.assert_refused(reply, 400, "bad_form_token")


async def test_unknown_article_id_with_its_own_token(share_app: ShareApp) -> None:
    from mailer.shares.tokens import form_token

    h = await share_app()
    token = form_token(h.svc.settings.keyring, 4242, h.clock.now)
    h.clock.advance(seconds=5)
    for as_json in (False, True):
        reply = await (h.client.post("/share", json=h.fields(4242, token)) if as_json
                       else h.client.post("/share", data=h.fields(4242, token)))
        await h.assert_refused(reply, 404, "not_found")


async def test_unpublished_article(share_app: ShareApp) -> None:
    from mailer.shares.tokens import form_token

    h = await share_app()
    article_id = await h.article(status="unpublished")
    assert (await h.client.get(h.form_path(article_id))).status_code == 404
    token = form_token(h.svc.settings.keyring, article_id, h.clock.now)
    h.clock.advance(seconds=5)
    await h.assert_refused(await h.client.post("/share", data=h.fields(article_id, token)), 404, "not_found")


@pytest.mark.parametrize("listed", ["friend@example.org", "friend+tag@example.org"])
async def test_suppressed_recipient(share_app: ShareApp, listed: str) -> None:
    h = await share_app()
    async with h.svc.db.transaction() as session:
        await suppression.suppress(session, "friend@example.org", "hard_bounce")
    reply = await h.share(await h.article(), friend_email=listed)
    await h.assert_refused(reply, 400, "suppressed")
    assert "اختر عنواناً آخر" in reply.text


async def test_per_ip_limit(share_app: ShareApp) -> None:
    h = await share_app(share_ip_limits="2/minute")
    article_id = await h.article()
    for n in range(2):
        assert (await h.share(article_id, friend_email=f"f{n}@example.org")).status_code == 202
    refused = [await h.share(article_id, friend_email=f"g{n}@example.org") for n in range(3)]
    assert all(r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60 for r in refused)
    assert "حاول مجدداً بعد" in refused[0].text
    assert await h.queued_shares() == 2
    # a flood from one client writes one record per minute, not one per request
    assert [r.outcome for r in await h.records()] == ["queued", "queued", "rate_ip"]


async def test_per_sender_limit(share_app: ShareApp) -> None:
    h = await share_app(share_sender_limits="2/hour")
    article_id = await h.article()
    for n in range(2):
        reply = await h.share(article_id, friend_email=f"f{n}@example.org", sender_email="me@example.net")
        assert reply.status_code == 202
    reply = await h.share(article_id, friend_email="f9@example.org", sender_email="Me+alias@example.net")
    assert reply.status_code == 429 and int(reply.headers["Retry-After"]) > 0
    assert [r.outcome for r in await h.records()][-1] == "rate_sender"
    assert await h.queued_shares() == 2
    # another sender address is not affected
    assert (await h.share(article_id, friend_email="f9@example.org", sender_email="other@example.net")).status_code == 202


async def test_per_recipient_same_article_once_a_day(share_app: ShareApp) -> None:
    h = await share_app()
    article_id = await h.article()
    assert (await h.share(article_id, sender_name="أحمد")).status_code == 202
    again = await h.share(article_id, sender_name="سارة", friend_email="FRIEND+x@example.org")
    assert again.status_code == 429 and "أُرسل هذا الخبر إلى هذا العنوان اليوم" in again.text
    assert 23 * 3600 < int(again.headers["Retry-After"]) <= 24 * 3600
    assert [r.outcome for r in await h.records()] == ["queued", "rate_recipient_article"]
    h.clock.advance(hours=24)
    assert (await h.share(article_id)).status_code == 202
    assert len(await h.deliver()) == 2


async def test_per_recipient_shares_a_day_in_all(share_app: ShareApp) -> None:
    h = await share_app(share_recipient_per_day=2)
    ids = [await h.article() for _ in range(3)]
    for article_id in ids[:2]:
        assert (await h.share(article_id)).status_code == 202
    reply = await h.share(ids[2])
    assert reply.status_code == 429 and "وصل إلى هذا العنوان ما يكفي" in reply.text
    assert (await h.records())[-1].outcome == "rate_recipient"
    assert (await h.share(ids[2], friend_email="other@example.org")).status_code == 202
    assert len(await h.deliver()) == 3


async def test_global_hourly_breaker(share_app: ShareApp) -> None:
    h = await share_app(share_global_per_hour=3)
    article_id = await h.article()
    for n in range(3):
        assert (await h.share(article_id, friend_email=f"f{n}@example.org", wait=60)).status_code == 202
    reply = await h.share(article_id, friend_email="f3@example.org")
    assert reply.status_code == 429 and "مشغولة الآن" in reply.text
    # shares at +60 s, +120 s, +180 s, refused at +185 s: the first leaves the hour at +3660 s
    assert int(reply.headers["Retry-After"]) == 3660 - 185
    assert (await h.records())[-1].outcome == "rate_global"
    h.clock.advance(hours=1)
    assert (await h.share(article_id, friend_email="f3@example.org")).status_code == 202


async def test_honeypot_filled(share_app: ShareApp) -> None:
    h = await share_app()
    await h.assert_refused(await h.share(await h.article(), website="https://spam.example"), 400, "honeypot")


async def test_form_sent_too_fast(share_app: ShareApp) -> None:
    h = await share_app(share_min_fill_seconds=3)
    reply = await h.share(await h.article(), wait=1)
    await h.assert_refused(reply, 400, "too_fast")
    assert "بسرعة كبيرة" in reply.text


async def test_form_too_old(share_app: ShareApp) -> None:
    h = await share_app(share_form_max_age_minutes=30)
    await h.assert_refused(await h.share(await h.article(), wait=31 * 60), 400, "form_expired")


async def test_form_token_missing(share_app: ShareApp) -> None:
    h = await share_app()
    await h.assert_refused(await h.share(await h.article(), form_token=None), 400, "invalid_form_token")


async def test_note_refused_when_off_and_checked_when_on(share_app: ShareApp) -> None:
    h = await share_app()
    await h.assert_refused(await h.share(await h.article(), note="اقرأ هذا"), 400, "note_disabled")

    h = await share_app(share_note_enabled=True, share_note_max_length=40)
    article_id = await h.article()
    await h.assert_refused(await h.share(article_id, note="شاهد evil.example الآن"), 400, "url_note")
    await h.assert_refused(await h.share(article_id, note="راسلني ahmed@evil.example"), 400, "address_note")
    await h.assert_refused(await h.share(article_id, note="ب" * 41), 400, "long_note")
    ok = await h.share(article_id, note="اقرأ هذا <b>مهم</b>\r\nسطر ثانٍ")
    assert ok.status_code == 202
    msg = (await h.deliver())[0].message
    assert "<span dir=\"rtl\">اقرأ هذا &lt;b&gt;مهم" in msg.get_body(("html",)).get_content()  # one isolated run
    assert "«اقرأ هذا <b>مهم</b> سطر ثانٍ»" in msg.get_body(("plain",)).get_content()


async def test_body_too_large_or_not_a_form(share_app: ShareApp) -> None:
    h = await share_app()
    article_id = await h.article()
    big = await h.client.post("/share", data={**h.fields(article_id, "t"), "note": "x" * 20000})
    assert big.status_code == 400
    xml = await h.client.post("/share", content=b"<share/>", headers={"Content-Type": "text/xml"})
    assert xml.status_code == 400
    upload = await h.client.post("/share", data=h.fields(article_id, "t"), files={"note": ("a.txt", b"x")})
    assert upload.status_code == 400 and "بلا ملفات" in upload.text
    assert await h.queued_shares() == 0
