"""The console's sign-in pages: ``/admin/login``, ``/admin/logout``, ``/admin/account``.

Owns the HTTP side of staff sign-in: reading the small login form (16 KiB at
most, URL-encoded only), CSRF on every post (:mod:`covenant.web.csrf`), the
per-address rate limit, the session cookie, and :func:`authorize`, which
every console page calls before it does anything. Accounts, sessions and
roles decide; nothing here holds SQL. argon2 and database calls run in the
thread pool, off the event loop.

Pages are server-rendered, work without JavaScript and carry no inline
script or style (the CSP is ``default-src 'self'``). Every response is
``Cache-Control: no-store``: a shared computer's back button must not show a
console page after sign-out (OWASP Session Management Cheat Sheet).

Needs on ``app.state``: ``settings``, ``keys``, ``staff`` (StaffAccounts) and
``sessions`` (StaffSessions).
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from covenant.errors import CovenantError
from covenant.settings import Settings
from covenant.staff import passwords, usernames
from covenant.staff.accounts import LoginFailed, StaffAccounts
from covenant.staff.ratelimit import TokenBucket
from covenant.staff.roles import PERMISSIONS, STATE_KEY, Action, NotSignedIn, Role, require
from covenant.staff.sessions import Session, StaffSessions, cookie_name
from covenant.web.csrf import bind, check_csrf, csrf_token, with_csrf_cookie

FORM_LIMIT = 16 * 1024
"""A sign-in form is a few hundred bytes; anything near this is not one."""
STYLESHEET = "/admin/static/console.css"
NO_STORE = {"Cache-Control": "no-store"}
ROLE_NAMES = {Role.ADMIN: "Administrator", Role.REVIEWER: "Reviewer", Role.READ_ONLY: "Read only"}
ACTION_NAMES = {
    Action.VIEW: "view requests",
    Action.VERIFY: "verify requesters",
    Action.APPROVE: "approve",
    Action.DENY: "deny",
    Action.EXTEND: "extend deadlines",
    Action.ADD_NOTE: "add notes",
    Action.COMPLETE_TASK: "complete manual tasks",
    Action.MANAGE_STAFF: "manage staff accounts",
}

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("covenant.staff", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


class FormTooLarge(CovenantError):
    """The form is larger than a sign-in form can be."""

    status = 413


class NotAForm(CovenantError):
    """Send the form as application/x-www-form-urlencoded, as a browser does."""

    status = 400


class TooManyAttempts(CovenantError):
    """Too many sign-in attempts from your network. Wait a minute, then try again."""

    status = 429


def routes(*, limiter: TokenBucket | None = None) -> list[BaseRoute]:
    """The sign-in routes; ``limiter`` is the per-address bucket (10, then 1 each 6 s)."""
    bucket = limiter or TokenBucket()

    async def login(request: Request) -> Response:
        if request.method == "POST":
            return await sign_in(request, bucket)
        return await login_form(request)

    return [
        Route("/admin/login", login, methods=["GET", "POST"]),
        Route("/admin/logout", logout, methods=["POST"]),
        Route("/admin/account", account),
        Route(STYLESHEET, stylesheet),
    ]


# Used by every console page.


async def signed_in(request: Request) -> Session | None:
    """The live session of this request's cookie (loaded once), bound for CSRF."""
    if hasattr(request.state, STATE_KEY):
        loaded: Session | None = getattr(request.state, STATE_KEY)
        return loaded
    token = request.cookies.get(_cookie(request))
    session = None
    if token:
        sessions: StaffSessions = request.app.state.sessions
        session = await run_in_threadpool(lambda: sessions.load(token, now=_now()))
    setattr(request.state, STATE_KEY, session)
    if session is not None:
        bind(request, session.csrf_secret)
    return session


async def authorize(request: Request, action: Action) -> Session:
    """The signed-in session if it may do ``action``; 401 or 403 otherwise."""
    await signed_in(request)
    return require(request, action)


async def read_form(request: Request, *, limit: int = FORM_LIMIT) -> dict[str, str]:
    """A small URL-encoded form, read no further than ``limit`` bytes; 413 or 400 otherwise."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise NotAForm()
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > limit):
        raise FormTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # a chunked body declares no length to trust
            raise FormTooLarge()
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20
        )
    except (UnicodeDecodeError, ValueError):
        raise NotAForm("The form could not be read: it is not UTF-8 URL-encoded text.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise NotAForm(f"The form has the field {name[:40]!r} twice.")
        form[name] = value
    return form


# Pages.


@dataclass(frozen=True, slots=True)
class _Field:
    id: str
    label: str
    type: str
    autocomplete: str
    maxlength: int
    value: str = ""
    error: str = ""


async def login_form(request: Request) -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse("/admin", status_code=303, headers=NO_STORE)
    return _login_page(request)


async def sign_in(request: Request, bucket: TokenBucket) -> Response:
    client = request.client.host if request.client else "unknown"
    wait = bucket.take(client, now=time.monotonic())
    if wait > 0:
        response = _login_page(request, failure=TooManyAttempts().message, status=429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    form = await read_form(request)
    # Against login CSRF: bound to the anonymous cookie the form came with.
    check_csrf(request, form)
    username, password = form.get("username", ""), form.get("password", "")
    missing = {
        "username": "" if username.strip() else "Enter your username.",
        "password": "" if password else "Enter your password.",
    }
    if any(missing.values()):
        return _login_page(request, username=username, missing=missing, status=400)
    staff: StaffAccounts = request.app.state.staff
    try:
        found = await run_in_threadpool(lambda: staff.authenticate(username, password, now=_now()))
    except LoginFailed as failed:
        return _login_page(request, username=username, failure=failed.message, status=400)
    sessions: StaffSessions = request.app.state.sessions
    old = request.cookies.get(_cookie(request))
    if old:
        # Whatever session this browser had ends here; the new one has a new token.
        await run_in_threadpool(lambda: sessions.revoke(old, now=_now()))
    token, _ = await run_in_threadpool(lambda: sessions.start(found, now=_now()))
    response = RedirectResponse("/admin", status_code=303, headers=NO_STORE)
    _set_session_cookie(request, response, token, sessions.absolute)
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/admin/login", status_code=303, headers=NO_STORE)
    session = await signed_in(request)
    if session is not None:
        check_csrf(request, await read_form(request))
        sessions: StaffSessions = request.app.state.sessions
        token = request.cookies.get(_cookie(request), "")
        await run_in_threadpool(lambda: sessions.revoke(token, now=_now()))
    development = _development(request)
    response.delete_cookie(
        _cookie(request), path="/", secure=not development, httponly=True, samesite="strict"
    )
    return response


async def account(request: Request) -> Response:
    try:
        session = await authorize(request, Action.VIEW)
    except NotSignedIn:
        return RedirectResponse("/admin/login", status_code=303, headers=NO_STORE)
    allowed = ", ".join(ACTION_NAMES[a] for a in Action if a in PERMISSIONS[session.role])
    return _render(
        request,
        "account.html",
        title="Your account",
        session=session,
        role_name=ROLE_NAMES[session.role],
        allowed=allowed,
    )


async def stylesheet(request: Request) -> Response:
    css = (files("covenant.staff") / "static" / "console.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


# Rendering.


def _login_page(
    request: Request,
    *,
    username: str = "",
    missing: Mapping[str, str] | None = None,
    failure: str = "",
    status: int = 200,
) -> Response:
    missing = missing or {}
    fields = [
        _Field(
            "username",
            "Username",
            "text",
            "username",
            usernames.MAX_CHARS,
            value=username[: usernames.MAX_CHARS],
            error=missing.get("username", ""),
        ),
        _Field(
            "password",
            "Password",
            "password",
            "current-password",
            passwords.MAX_CHARS,
            error=missing.get("password", ""),
        ),
    ]
    errors = [(f.id, f.error) for f in fields if f.error]
    if failure:
        errors.append(("username", failure))
    return _render(
        request, "login.html", status=status, title="Sign in", fields=fields, errors=errors
    )


def _render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    context.setdefault("errors", [])
    context["csrf"] = csrf_token(request, None)
    body = _templates.get_template(template).render(**context)
    response = HTMLResponse(body, status_code=status, headers=NO_STORE)
    return with_csrf_cookie(request, response)


def _set_session_cookie(
    request: Request, response: Response, token: str, lifetime: dt.timedelta
) -> None:
    development = _development(request)
    response.set_cookie(
        _cookie(request),
        token,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=not development,
        httponly=True,
        samesite="strict",
    )


def _cookie(request: Request) -> str:
    return cookie_name(development=_development(request))


def _development(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.development


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
