"""What a share request must look like: its fields, the sender's name, the note, the one recipient.
Pure: each check returns the clean value or raises a refusal whose Arabic message says what to
change. The refusals are leaves of the tree in ``mailer/errors.py``:

    InvalidInput > ShareInputRefused(reason)        400
    NotFound     > ArticleNotShareable              404
    RateLimited  > ShareRateRefused(reason)         429

``reason`` is the short code the share records keep (``mailer shares stats`` counts them).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from mailer.compose.message import scrub_markers
from mailer.core.errors import InvalidAddress, InvalidInput, NotFound, RateLimited
from subscribers import addresses
from subscribers.suppression import address_hash

HONEYPOT = "website"  # a field people never see and bots like to fill
# the article by its internal number (bound to the form token), or by the site's guid or link
ARTICLE_FIELDS = ("article_id", "guid", "url")
FIELDS = (*ARTICLE_FIELDS, "friend_email", "sender_name", "sender_email", "note", "form_token", HONEYPOT)
GUID_MAX = 1000
URL_MAX = 2000

# Characters that clients turn into a dot when they look for links, besides "." itself.
_DOTS = ".\u3002\uff0e\uff61\u06d4\u2024\ufe52"
_URL = re.compile(
    r"(?i)://|\bwww\b|\b(?:https?|ftp|mailto|tel|file|data|javascript)\s*:"
    rf"|[^\s{_DOTS}][{_DOTS}][^\W\d_]{{2,}}"
)
_LONG_NUMBER = re.compile(r"\d{6,}")
_NUMBER_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015().+/]")
_SPACES = re.compile(r"\s+")
ZWNJ = "\u200c"  # needed in Persian and Kurdish names; every other format character is refused

TEXT_FIELD_LABELS = {"sender_name": "الاسم", "note": "الملاحظة"}


class ShareInputRefused(InvalidInput):
    """A share request refused for its content (400)."""

    def __init__(self, reason: str, field: str, message: str, *, public_message: str) -> None:
        super().__init__(field, message, public_message=public_message)
        self.reason = reason


class ArticleNotShareable(NotFound):
    """The article does not exist or is not published (404)."""

    reason = "not_found"
    public_message = "الخبر المطلوب غير موجود أو لم يعد منشوراً. تحقّق من رابط الخبر."


class ShareRateRefused(RateLimited):
    """Too many shares by one measure (429); ``reason`` names the measure."""

    def __init__(self, reason: str, message: str, *, retry_after: float, public_message: str) -> None:
        super().__init__(message, retry_after=retry_after, public_message=public_message)
        self.reason = reason


def reason_of(exc: Exception) -> str:
    """The record's code for a refusal."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    if isinstance(exc, InvalidInput):
        return f"invalid_{exc.field}"[:32]
    return type(exc).__name__.lower()[:32]


@dataclass(frozen=True)
class ShareRequest:
    """The raw fields of one request, each a single string (article id already an integer); the
    article is named by exactly one of ``article_id``, ``guid`` and ``url``."""

    article_id: int | None
    guid: str
    url: str
    friend_email: str
    sender_name: str
    sender_email: str
    note: str
    form_token: str
    honeypot: str
    captcha: str


def _refuse(field: str, message: str, public: str, reason: str | None = None) -> ShareInputRefused:
    return ShareInputRefused(reason or f"invalid_{field}", field, message, public_message=public)


def parse_fields(items: Iterable[tuple[str, object]], *, captcha_field: str | None = None) -> ShareRequest:
    """One value per known field, each a string: a repeated field (a second recipient sent as a
    second ``friend_email``), an unknown one or a list or object in JSON is refused."""
    known = {*FIELDS, *([captcha_field] if captcha_field else [])}
    values: dict[str, str] = {}
    for name, value in items:
        if name not in known:
            raise _refuse(name[:50], "is not a field of the share form",
                          "أُرسل حقل غير معروف مع النموذج. أرسل النموذج كما هو من صفحة الخبر.", "unknown_field")
        if name in values:
            if name == "friend_email":
                raise _refuse(name, "given more than once", ONE_RECIPIENT, "several_recipients")
            raise _refuse(name, "given more than once", "أُرسل الحقل نفسه أكثر من مرة. أرسل النموذج مرة واحدة.")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            if name == "friend_email":
                raise _refuse(name, "is not a single string", ONE_RECIPIENT, "several_recipients")
            raise _refuse(name, "is not a single text value", "قيمة أحد الحقول غير صالحة. أرسل نصاً فقط.")
        values[name] = str(value)
    named = [name for name in ARTICLE_FIELDS if values.get(name, "").strip()]
    if len(named) != 1:
        raise _refuse(named[1] if named else "article_id",
                      "give exactly one of article_id, guid and url", REQUIRED["article_id"])
    for name in ("friend_email", "sender_name", "form_token"):
        if not values.get(name, "").strip():
            raise _refuse(name, "is required", REQUIRED[name])
    guid, url = values.get("guid", "").strip(), values.get("url", "").strip()
    if len(guid) > GUID_MAX or len(url) > URL_MAX:
        raise _refuse(named[0], "is too long", "رابط الخبر أطول من اللازم. افتح صفحة الإرسال من رابط الخبر.")
    return ShareRequest(
        article_id=parse_article_id(values["article_id"]) if named == ["article_id"] else None,
        guid=guid,
        url=url,
        friend_email=values["friend_email"],
        sender_name=values["sender_name"],
        sender_email=values.get("sender_email", ""),
        note=values.get("note", ""),
        form_token=values["form_token"],
        honeypot=values.get(HONEYPOT, ""),
        captcha=values.get(captcha_field, "") if captcha_field else "",
    )


REQUIRED = {
    "article_id": "لم يُحدَّد الخبر المراد إرساله. افتح صفحة الإرسال من رابط الخبر.",
    "friend_email": "اكتب عنوان البريد الإلكتروني لصديقك.",
    "sender_name": "اكتب اسمك ليعرف صديقك من أرسل إليه الخبر.",
    "form_token": "النموذج ناقص. افتح صفحة الإرسال من رابط الخبر ثم أعد المحاولة.",
}
ONE_RECIPIENT = "يمكن إرسال الخبر إلى صديق واحد في كل مرة: اكتب عنوان بريد واحداً فقط."
BAD_RECIPIENT = "عنوان بريد صديقك غير صالح. اكتب عنواناً واحداً مثل friend@example.com."
BAD_SENDER_EMAIL = "عنوان بريدك غير صالح. صحّحه أو اترك الحقل فارغاً فهو اختياري."


def parse_article_id(value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise _refuse("article_id", f"{value[:40]!r} is not an article number",
                      "رقم الخبر غير صالح. افتح صفحة الإرسال من رابط الخبر.")
    return int(text)


def check_honeypot(value: str) -> None:
    if value.strip():
        raise _refuse(HONEYPOT, "the hidden field was filled (a bot?)",
                      "يجب أن يبقى حقل «الموقع الإلكتروني» المخفي فارغاً. امسحه ثم أرسل النموذج.", "honeypot")


def _format_character(text: str) -> str | None:
    """The first control, format or line-separator character (bidi overrides included), if any."""
    for ch in text:
        if ch != ZWNJ and unicodedata.category(ch)[0] in "CZ" and unicodedata.category(ch) != "Zs":
            return ch
    return None


def check_text(field: str, value: str, *, max_length: int, allow_empty: bool = False) -> str:
    """Plain text for the body of the mail: no links, no addresses, no control or bidi characters,
    whitespace folded. Returns the clean text."""
    label = TEXT_FIELD_LABELS[field]
    value = scrub_markers(value)  # a reader must not aim at the slots of the message
    bad = _format_character(value.replace("\r\n", "\n").replace("\n", " ") if field == "note" else value)
    if bad is not None:
        raise _refuse(field, f"contains the control or format character U+{ord(bad):04X}",
                      f"يحتوي {label} على محارف تحكّم أو محارف تغيّر اتجاه النص. اكتبه بحروف عادية فقط.",
                      f"control_{field}"[:32])
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()
    folded = unicodedata.normalize("NFKC", text)
    if not text:
        if allow_empty:
            return ""
        raise _refuse(field, "is empty", REQUIRED.get(field, f"اكتب {label}."))
    if len(text) > max_length:
        raise _refuse(field, f"is {len(text)} characters long, more than {max_length}",
                      f"{label} أطول من اللازم: {max_length} حرفاً على الأكثر.", f"long_{field}"[:32])
    if "@" in folded:
        raise _refuse(field, "contains an @ (an address)",
                      f"لا يقبل {label} عناوين البريد ولا الرمز @. احذفه ثم أعد الإرسال.", f"address_{field}"[:32])
    if _URL.search(folded):
        raise _refuse(field, "contains a link or a domain name",
                      f"لا يقبل {label} الروابط ولا أسماء المواقع (مثل example.com). احذفها ثم أعد الإرسال.",
                      f"url_{field}"[:32])
    if _LONG_NUMBER.search(_NUMBER_SEPARATORS.sub("", folded)):
        raise _refuse(field, "contains a long number (a phone number?)",
                      f"لا يقبل {label} أرقام الهواتف أو الأرقام الطويلة. احذفها ثم أعد الإرسال.",
                      f"number_{field}"[:32])
    if field == "sender_name" and not any(ch.isalpha() for ch in text):
        raise _refuse(field, "has no letters", "اكتب اسمك بالحروف.")
    return text


def check_name(value: str, *, max_length: int) -> str:
    return check_text("sender_name", value, max_length=max_length)


def check_note(value: str, *, enabled: bool, max_length: int) -> str:
    if not enabled:
        if value.strip():
            raise _refuse("note", "personal notes are switched off",
                          "لا يقبل الموقع ملاحظة شخصية مع الخبر. احذف الملاحظة ثم أعد الإرسال.", "note_disabled")
        return ""
    return check_text("note", value, max_length=max_length, allow_empty=True)


def _one_address(field: str, value: str, public: str) -> addresses.Address:
    raw = value.strip()
    if any(sep in raw for sep in ",;") or raw.count("@") > 1 or _SPACES.search(raw):
        raise _refuse(field, "holds more than one address", ONE_RECIPIENT if field == "friend_email" else public,
                      "several_recipients" if field == "friend_email" else None)
    if _format_character(raw) is not None or any(ch in raw for ch in '<>"()[]\\') or "=?" in raw or "?=" in raw:
        raise _refuse(field, "contains characters an address for one mailbox does not need", public)
    if any(ch in raw.rpartition("@")[0] for ch in "%!"):  # source routing: a relay may send it elsewhere
        raise _refuse(field, "routes through another host (% or ! before the @)", public)
    try:
        return addresses.check(raw, field=field)
    except InvalidAddress as exc:
        raise _refuse(field, exc.message, public) from None


def check_recipient(value: str) -> addresses.Address:
    """Exactly one plain address: no list, no display name, no comment, no encoded word."""
    return _one_address("friend_email", value, BAD_RECIPIENT)


def check_sender_email(value: str) -> addresses.Address | None:
    return _one_address("sender_email", value, BAD_SENDER_EMAIL) if value.strip() else None


def canonical_address(address: addresses.Address) -> str:
    """The mailbox behind an address, for counting and opt-outs: lower case, ``+tag`` dropped, so
    ``Friend+1@x`` and ``friend+2@x`` count as the same friend."""
    local, _, domain = address.normalized.rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}".lower()


def address_key(address: addresses.Address) -> str:
    """The hash that share records and opt-outs keep (the suppression list's hash function)."""
    return address_hash(canonical_address(address))
