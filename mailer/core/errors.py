"""The one exception tree of the service; the web layer maps it to HTTP statuses in one place.

    MailerError
    ├── SettingsError(key)                      a setting is missing or malformed
    ├── InvalidInput(field)  (ValueError)       public input refused; names the field
    │   ├── InvalidAddress                      an e-mail address
    │   ├── InvalidHeader                       CR, LF, NUL or similar in a header value
    │   ├── InvalidFeed                         a feed (or a position in it) cannot be read
    │   └── InvalidToken                        a signed token that this service's keys did not make
    ├── NotFound  (LookupError)                 an article, edition or subscriber does not exist
    ├── Unauthorized                            a missing or wrong token or password
    ├── Forbidden                               signed in, but the request is refused (CSRF)
    ├── RateLimited(retry_after)                too many requests; try again later
    ├── Conflict                                the request clashes with the current state
    └── TooLarge(field, limit)                  a request body over its limit (not a ValueError:
                                                code that reads a body and catches bad JSON must
                                                not mistake it for one)

Delivery outcomes are not exceptions: a batch has hundreds of them, so the transport returns an
``Outcome`` whose ``Verdict`` (sent, retry, failed, unknown) the pure table in
``mailer.delivery.outcomes`` decides, and the outbox records it.

Each error carries an English message for logs and operators, and an optional Arabic
``public_message`` for the people who use the public pages.
"""

from __future__ import annotations


class MailerError(Exception):
    """Root of every error this service raises on purpose."""

    public_message: str = "حدث خطأ غير متوقع، يرجى المحاولة لاحقاً."

    def __init__(self, message: str, *, public_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if public_message is not None:
            self.public_message = public_message


class SettingsError(MailerError):
    """A setting has a bad value; ``key`` is the environment variable that holds it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class InvalidInput(MailerError, ValueError):
    """Public input refused; ``field`` names what to change."""

    public_message = "البيانات المرسلة غير صالحة."

    def __init__(self, field: str, message: str, *, public_message: str | None = None) -> None:
        super().__init__(f"{field}: {message}", public_message=public_message)
        self.field = field


class InvalidAddress(InvalidInput):
    public_message = "عنوان البريد الإلكتروني غير صالح."


class InvalidHeader(InvalidInput):
    public_message = "تحتوي البيانات على محارف غير مسموح بها."


class InvalidFeed(InvalidInput):
    public_message = "تعذّرت قراءة مصدر الأخبار."


class InvalidToken(InvalidInput):
    """A token refused by ``mailer.core.signing``. The message is the same whatever is wrong, so
    an answer never tells a forger how close they came; ``reason`` says it for tests and logs."""

    public_message = "الرابط غير صالح أو منتهي الصلاحية."

    def __init__(self, reason: str, *, field: str = "token") -> None:
        super().__init__(field, "not a valid token")
        self.reason = reason


class NotFound(MailerError, LookupError):
    public_message = "العنصر المطلوب غير موجود."


class Unauthorized(MailerError):
    public_message = "غير مصرّح لك بهذا الإجراء."


class Forbidden(MailerError):
    public_message = "تعذّر التحقق من هذا الطلب؛ أعد تحميل الصفحة وحاول مجدداً."


class RateLimited(MailerError):
    public_message = "عدد كبير من الطلبات، يرجى المحاولة لاحقاً."

    def __init__(
        self, message: str, *, retry_after: float, public_message: str | None = None
    ) -> None:
        super().__init__(message, public_message=public_message)
        self.retry_after = retry_after


class Conflict(MailerError):
    public_message = "لا يمكن تنفيذ الطلب في الحالة الحالية."


class TooLarge(MailerError):
    """A request body larger than its limit, refused before it is parsed."""

    public_message = "الطلب أكبر من الحجم المسموح به. اختصر ما أرسلته ثم أعد المحاولة."

    def __init__(self, limit: int, *, field: str = "body") -> None:
        super().__init__(f"{field}: larger than {limit} bytes")
        self.field = field
        self.limit = limit
