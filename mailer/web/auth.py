"""Editor sign-in for the web: login and logout, the password page, and ``require_editor``, the
dependency of every editor page, which also checks the CSRF token of every form it receives."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import RateLimitItem

from mailer.core.errors import Forbidden, InvalidInput, InvalidToken, Unauthorized
from mailer.core.signing import Keyring
from mailer.editor import accounts
from mailer.editor.accounts import SignedIn
from mailer.web.clients import client_of
from mailer.web.deps import objects_of, pages_of, service_of
from mailer.web.security import cookie_options, editor_page, local_path

SESSION_COOKIE = "mailer_editor"
LOGIN_COOKIE = "mailer_login"  # pre-session CSRF for the login form (signed double submit)
_LOGIN_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24)
CSRF_FIELD = "csrf"
NEED_LOGIN = "يرجى تسجيل الدخول أولاً."
THROTTLED = "محاولات دخول كثيرة خاطئة. انتظر قليلاً ثم حاول مجدداً."

router = APIRouter()  # mounted under /editor by mailer.web.editor


def _same(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


async def require_editor(request: Request) -> SignedIn:
    """The signed-in editor, or ``Unauthorized``; on anything but GET also the form's CSRF token."""
    svc = service_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    async with svc.db.transaction() as session:
        who = await accounts.signed_in(session, token, svc.clock())
    if who is None:
        raise Unauthorized("no valid editor session", public_message=NEED_LOGIN)
    if request.method not in ("GET", "HEAD"):
        form = await request.form()
        if not _same(form.get(CSRF_FIELD), who.csrf_token):
            raise Forbidden("missing or wrong CSRF token")
    return who


Editor = Annotated[SignedIn, Depends(require_editor)]
ADMINS_ONLY = "هذه الصفحة للمشرفين وحدهم. اطلب من مشرف أن يمنحك هذا الدور إن كنت تحتاج إليها."


async def require_admin(who: Editor) -> SignedIn:
    """A signed-in admin (subscribers, editors, settings); an editor gets ``Forbidden`` (403)."""
    if not who.is_admin:
        raise Forbidden(f"editor {who.name!r} is not an admin", public_message=ADMINS_ONLY)
    return who


Admin = Annotated[SignedIn, Depends(require_admin)]


def _login_cookie(request: Request) -> str | None:
    """The login form's cookie, if it is one we could have set."""
    value = request.cookies.get(LOGIN_COOKIE, "")
    return value if _LOGIN_COOKIE_VALUE.fullmatch(value) else None


def _login_csrf_ok(keyring: Keyring, csrf: str, cookie: str | None) -> bool:
    """The form's token is the cookie's value, signed: a cross-site form can set neither."""
    try:
        return cookie is not None and _same(keyring.verify("login-csrf", csrf), cookie)
    except InvalidToken:
        return False


def _login_page(request: Request, *, next_url: str, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    svc = service_of(request)
    cookie = _login_cookie(request) or secrets.token_urlsafe(24)
    response = editor_page(
        pages_of(request), "login", title="دخول المحررين", status_code=status_code,
        csrf=svc.settings.keyring.sign("login-csrf", cookie), next_url=next_url, error=error, editor=None,
    )
    response.set_cookie(LOGIN_COOKIE, cookie, max_age=3600, **cookie_options(request, svc.settings.base_url))
    return response


def _login_guards(request: Request, name: str) -> list[tuple[list[RateLimitItem], tuple[str, ...]]]:
    """What a failed sign-in counts against: the account (any client: a slow guess of one
    password from many addresses) and the client (any name: guessing names, or spraying one
    password over all of them). Names are compared as accounts stores them."""
    objects = objects_of(request)
    try:
        account = accounts.normalise_name(name)
    except InvalidInput:
        account = name.strip().lower()[:64]
    return [(objects.login_account_limits, ("login-account", account)),
            (objects.login_ip_limits, ("login-client", client_of(request)))]


async def _throttled(request: Request, guards: list[tuple[list[RateLimitItem], tuple[str, ...]]]) -> float | None:
    limiter = objects_of(request).limiter
    waits = [w for items, key in guards if (w := await limiter.wait(items, *key)) is not None]
    return max(waits) if waits else None


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_page(request, next_url=local_path(next))


@router.post("/login")
async def login(
    request: Request,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/editor",
) -> Response:
    svc = service_of(request)
    if not _login_csrf_ok(svc.settings.keyring, csrf, _login_cookie(request)):
        raise Forbidden("missing or wrong login CSRF token")
    now = svc.clock()
    guards = _login_guards(request, name)
    wait = await _throttled(request, guards)
    if wait is not None:  # refused before any password is hashed: a flood costs no CPU
        page = _login_page(request, next_url=local_path(next), error=THROTTLED, status_code=429)
        page.headers["Retry-After"] = str(int(wait + 0.999))
        return page
    try:
        async with svc.db.transaction() as session:
            editor = await accounts.authenticate(session, name, password)
            token = await accounts.start_session(
                session, editor, now, timedelta(hours=svc.settings.editor_session_hours)
            )
    except Unauthorized as exc:
        objects = objects_of(request)
        for items, key in guards:
            await objects.limiter.count(items, *key)
        return _login_page(request, next_url=local_path(next), error=exc.public_message, status_code=401)
    response = RedirectResponse(local_path(next), status_code=303)
    options = cookie_options(request, svc.settings.base_url)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(svc.settings.editor_session_hours * 3600), **options)
    response.delete_cookie(LOGIN_COOKIE, **options)
    return response


@router.post("/logout")
async def logout(request: Request, who: Editor) -> Response:
    svc = service_of(request)
    async with svc.db.transaction() as session:
        await accounts.end_session(session, who.session_id)
    response = RedirectResponse("/editor/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, **cookie_options(request, svc.settings.base_url))
    return response


@router.get("/password", response_class=HTMLResponse)
async def password_form(request: Request, who: Editor) -> HTMLResponse:
    return editor_page(pages_of(request), "password", title="تغيير كلمة المرور", editor=who,
                       csrf=who.csrf_token, error=None)


@router.post("/password")
async def change_password(
    request: Request,
    who: Editor,
    current: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
    new: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
    repeat: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
) -> Response:
    """A new password signs the editor out everywhere else; this browser gets a new session."""
    svc = service_of(request)
    now = svc.clock()
    try:
        if new != repeat:
            raise InvalidInput("repeat", "the two new passwords differ",
                               public_message="كلمتا المرور الجديدتان غير متطابقتين.")
        async with svc.db.transaction() as session:
            editor = await accounts.authenticate(session, who.name, current)
            await accounts.set_password(session, editor.id, new, now)
            token = await accounts.start_session(
                session, editor, now, timedelta(hours=svc.settings.editor_session_hours)
            )
    except (Unauthorized, InvalidInput) as exc:
        message = "كلمة المرور الحالية غير صحيحة." if isinstance(exc, Unauthorized) else exc.public_message
        return editor_page(pages_of(request), "password", title="تغيير كلمة المرور", editor=who,
                           csrf=who.csrf_token, error=message, status_code=400)
    response = RedirectResponse("/editor?changed=1", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(svc.settings.editor_session_hours * 3600),
                        **cookie_options(request, svc.settings.base_url))
    return response
