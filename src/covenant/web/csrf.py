"""CSRF protection for every form Covenant serves: the staff console and the privacy center.

Design (OWASP Cross-Site Request Forgery Prevention Cheat Sheet):

- **A token bound to a secret the attacker cannot read.** A token is
  ``<issued>.<mac>``, where ``mac`` is HMAC-SHA-256, under the key
  ``Keys.derive("csrf")``, of the binding secret and the Unix time it was
  issued. For a signed-in staff member the binding secret is their session's
  ``csrf_secret``, kept server-side: the *synchronizer token pattern*. For
  anonymous visitors of the privacy center (and the console's sign-in form,
  against login CSRF) it is a random value in a cookie set when a form is
  rendered: the *signed double-submit cookie pattern*. Signing matters there:
  a plain double-submit cookie can be forged by anyone who can write a cookie
  for the domain (a sibling subdomain), but nobody without the server key can
  make a matching MAC. The ``__Host-`` prefix (RFC 6265bis §4.1.3.2) also
  stops a subdomain from setting the cookie at all.
- **Tokens expire** ``MAX_AGE`` (4 hours) after the form was rendered, and are
  compared in constant time (``hmac.compare_digest``). The binding kind
  (``staff``/``anon``) is part of the MAC, so a token of one kind never passes
  as the other, and a token bound to one session fails for every other one.
- **Fetch Metadata and Origin** (the cheat sheet's defence in depth): a
  request whose ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site`` or whose
  ``Origin`` is not this service's own is refused before the token is even
  looked at. Browsers that send neither still need a valid token. ``Referer``
  is not used: Covenant sends ``Referrer-Policy: no-referrer``.

The anonymous cookie is ``__Host-covenant_csrf`` (``covenant_csrf`` in
development over plain HTTP): HttpOnly, SameSite=Lax (so a visitor arriving
from a link in an e-mail keeps the cookie an open form was made for), and a
browser-session cookie with no expiry, since it identifies nothing and is
strictly necessary for security.

Use::

    token = csrf_token(request, None)          # in a handler, before rendering
    response = HTMLResponse(render(csrf=token))
    return with_csrf_cookie(request, response)  # sets the cookie if one was made

    form = await read_the_form(request)
    check_csrf(request, form)                   # raises CsrfRefused (403)

A handler that has its response first can pass it: ``csrf_token(request,
response)`` sets the cookie on it directly. Staff pages call :func:`bind`
with the session's secret first (``covenant.staff.web`` does).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from covenant.errors import CovenantError
from covenant.keys import Keys

FIELD = "csrf_token"
"""The form field the token travels in."""
COOKIE = "__Host-covenant_csrf"
DEV_COOKIE = "covenant_csrf"
MAX_AGE = dt.timedelta(hours=4)
SKEW = 60
"""Seconds a token may seem to come from the future (clocks of two servers)."""

Kind = Literal["staff", "anon"]
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
_TOKEN = re.compile(r"(\d{1,12})\.([A-Za-z0-9_-]{43})")
_DOMAIN = b"covenant.csrf.v1\x00"
_BINDING = "csrf_binding"
_NEW_COOKIE = "csrf_new_cookie"


class CsrfRefused(CovenantError):
    """This form expired or came from another site. Go back, reload the page and try again."""

    status = 403


# The pure core: making and checking a token.


def make_token(key: bytes, kind: Kind, secret: str, *, issued: int) -> str:
    return f"{issued}.{_mac(key, kind, secret, issued)}"


def token_valid(
    key: bytes, kind: Kind, secret: str, token: str, *, now: int, max_age: dt.timedelta = MAX_AGE
) -> bool:
    match = _TOKEN.fullmatch(token)
    if match is None:
        return False
    issued = int(match.group(1))
    if not -SKEW <= now - issued <= max_age.total_seconds():
        return False
    expected = _mac(key, kind, secret, issued)
    return hmac.compare_digest(expected.encode(), match.group(2).encode())


def _mac(key: bytes, kind: Kind, secret: str, issued: int) -> str:
    message = _DOMAIN + f"{kind}\x00{secret}\x00{issued}".encode()
    raw = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# The web side: where the secret and key come from.


def bind(request: Request, secret: str) -> None:
    """Bind this request's tokens to a staff session's ``csrf_secret``."""
    setattr(request.state, _BINDING, ("staff", secret))


def csrf_token(request: Request, response: Response | None, *, now: float | None = None) -> str:
    """A token for a form rendered in answer to ``request``.

    Without a staff binding or a usable anonymous cookie, a new cookie value
    is made: set on ``response`` when given, else held until
    :func:`with_csrf_cookie`. Several forms on one page share the value.
    """
    binding = _binding(request) or _new_cookie_binding(request)
    if response is not None:
        with_csrf_cookie(request, response)
    issued = int(time.time() if now is None else now)
    return make_token(_key(request), binding[0], binding[1], issued=issued)


def with_csrf_cookie(request: Request, response: Response) -> Response:
    """Set the anonymous cookie that :func:`csrf_token` made, if it made one."""
    secret: str | None = getattr(request.state, _NEW_COOKIE, None)
    if secret is not None:
        development = _development(request)
        response.set_cookie(
            DEV_COOKIE if development else COOKIE,
            secret,
            path="/",
            secure=not development,
            httponly=True,
            samesite="lax",
        )
    return response


def check_csrf(request: Request, form: Mapping[str, object], *, now: float | None = None) -> None:
    """Refuse (:class:`CsrfRefused`, 403) a form post that is cross-site or lacks a valid token."""
    if not _same_origin(request):
        raise CsrfRefused()
    binding = _binding(request)
    token = form.get(FIELD)
    if binding is None or not isinstance(token, str):
        raise CsrfRefused()
    at = int(time.time() if now is None else now)
    if not token_valid(_key(request), binding[0], binding[1], token, now=at):
        raise CsrfRefused()


def _binding(request: Request) -> tuple[Kind, str] | None:
    bound: tuple[Kind, str] | None = getattr(request.state, _BINDING, None)
    if bound is not None:
        return bound
    cookie = request.cookies.get(DEV_COOKIE if _development(request) else COOKIE, "")
    return ("anon", cookie) if _SECRET.fullmatch(cookie) else None


def _new_cookie_binding(request: Request) -> tuple[Kind, str]:
    secret = secrets.token_urlsafe(32)
    setattr(request.state, _BINDING, ("anon", secret))
    setattr(request.state, _NEW_COOKIE, secret)
    return ("anon", secret)


def _same_origin(request: Request) -> bool:
    """Fetch Metadata (W3C Fetch Metadata Request Headers §2.1.3) and Origin (RFC 6454 §7)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null" and site == "same-origin":
        # Under Referrer-Policy: no-referrer, Chromium sends "Origin: null" on
        # same-origin form posts (Fetch §3.2.5, "serialize a request origin").
        # Sec-Fetch-Site is set by the browser and cannot be forged by a page.
        return True
    return origin.lower().rstrip("/") in _own_origins(request)


def _own_origins(request: Request) -> set[str]:
    own = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    settings = getattr(request.app.state, "settings", None)
    public = getattr(settings, "public_url", None)
    if isinstance(public, str) and "://" in public:
        scheme, rest = public.split("://", 1)
        own.add(f"{scheme}://{rest.split('/', 1)[0]}".lower())
    return own


def _development(request: Request) -> bool:
    settings = getattr(request.app.state, "settings", None)
    return bool(getattr(settings, "development", False))


def _key(request: Request) -> bytes:
    keys: Keys = request.app.state.keys
    return keys.derive("csrf")
