"""CSRF protection: signed tokens bound to a staff session or an anonymous cookie, with expiry
and Fetch Metadata / Origin checks."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from covenant.errors import CovenantError
from covenant.keys import Keys
from covenant.settings import Settings
from covenant.web.app import covenant_error
from covenant.web.csrf import (
    COOKIE,
    DEV_COOKIE,
    CsrfRefused,
    bind,
    check_csrf,
    csrf_token,
    make_token,
    token_valid,
    with_csrf_cookie,
)
from covenant.web.headers import SecurityHeaders

KEY = Keys(b"s" * 32).derive("csrf")
NOW = 1_800_000_000
SECRET = "A" * 43
MESSAGE = "This form expired or came from another site. Go back, reload the page and try again."
MINI = Path(__file__).parent / "fixtures" / "mini" / "covenant.yml"


# The pure core.


def test_a_token_is_valid_for_its_binding_until_it_expires() -> None:
    token = make_token(KEY, "anon", SECRET, issued=NOW)
    assert token_valid(KEY, "anon", SECRET, token, now=NOW)
    assert token_valid(KEY, "anon", SECRET, token, now=NOW + 4 * 3600)
    assert not token_valid(KEY, "anon", SECRET, token, now=NOW + 4 * 3600 + 1)
    assert not token_valid(KEY, "anon", SECRET, token, now=NOW - 3600)  # from the future
    custom = dt.timedelta(minutes=5)
    assert not token_valid(KEY, "anon", SECRET, token, now=NOW + 301, max_age=custom)


def test_a_token_fails_for_any_other_key_kind_or_secret() -> None:
    token = make_token(KEY, "staff", SECRET, issued=NOW)
    other_key = Keys(b"t" * 32).derive("csrf")
    assert not token_valid(other_key, "staff", SECRET, token, now=NOW)
    assert not token_valid(KEY, "anon", SECRET, token, now=NOW)  # a staff token is not anon
    assert not token_valid(KEY, "staff", "B" * 43, token, now=NOW)  # another session's
    issued, mac = token.split(".")
    assert not token_valid(KEY, "staff", SECRET, f"{int(issued) + 1}.{mac}", now=NOW)


@pytest.mark.parametrize(
    "junk", ["", ".", "123", "abc.def", "1." + "é" * 43, "1." + "A" * 44, "x" * 100_000, "<script>"]
)
def test_malformed_tokens_are_refused(junk: str) -> None:
    assert not token_valid(KEY, "anon", SECRET, junk, now=NOW)


# Through a small app: one anonymous form, one staff form.


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def anon_form(request: Request) -> Response:
    # Rendered first, cookie set after: the usual shape of a handler.
    first = csrf_token(request, None)
    second = csrf_token(request, None)  # a second form on the page
    return with_csrf_cookie(request, HTMLResponse(f"<i>{first}</i><b>{second}</b>"))


async def anon_form_response_first(request: Request) -> Response:
    response = HTMLResponse("")
    token = csrf_token(request, response)
    response.body = token.encode()
    response.headers["content-length"] = str(len(response.body))
    return response


def _staff_secret(request: Request) -> None:
    # Stands in for the staff session: its csrf secret comes from a header here.
    bind(request, request.headers["x-session-secret"])


async def staff_form(request: Request) -> Response:
    _staff_secret(request)
    return PlainTextResponse(csrf_token(request, None))


async def submit(request: Request) -> Response:
    if "x-session-secret" in request.headers:
        _staff_secret(request)
    check_csrf(request, await request.form())
    return PlainTextResponse("accepted")


def make_app(*, development: bool = True) -> Starlette:
    app = Starlette(
        routes=[
            Route("/form", anon_form),
            Route("/form-response-first", anon_form_response_first),
            Route("/staff-form", staff_form),
            Route("/submit", submit, methods=["POST"]),
        ],
        middleware=[Middleware(SecurityHeaders, development=development)],
        exception_handlers={CovenantError: covenant_error},
    )
    app.state.keys = Keys(b"s" * 32)
    app.state.settings = Settings(
        config=MINI, development=development, public_url="https://privacy.example.com"
    )
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = make_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        yield c


def tokens(page: httpx.Response) -> list[str]:
    return re.findall(r"\d+\.[A-Za-z0-9_-]{43}", page.text)


@pytest.mark.anyio
async def test_rendering_a_form_sets_one_cookie_and_its_tokens_pass(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/form")
    assert len(page.headers.get_list("set-cookie")) == 1
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith(f"{DEV_COOKIE}=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "max-age" not in cookie  # a browser-session cookie
    first, second = tokens(page)
    for token in (first, second):
        accepted = await client.post("/submit", data={"csrf_token": token})
        assert (accepted.status_code, accepted.text) == (200, "accepted")
    again = await client.get("/form")
    assert "set-cookie" not in again.headers  # the cookie is kept, not replaced


@pytest.mark.anyio
async def test_a_handler_with_its_response_first_gets_the_cookie_too(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/form-response-first")
    assert page.headers["set-cookie"].startswith(f"{DEV_COOKIE}=")
    assert (await client.post("/submit", data={"csrf_token": page.text})).status_code == 200


@pytest.mark.anyio
async def test_missing_or_wrong_tokens_and_cookies_are_refused(client: httpx.AsyncClient) -> None:
    (token, _) = tokens(await client.get("/form"))
    altered = token[:-1] + ("B" if token[-1] == "A" else "A")
    for form in ({}, {"csrf_token": ""}, {"csrf_token": altered}, {"csrf_token": "x"}):
        refused = await client.post("/submit", data=form)
        assert (refused.status_code, refused.text) == (403, MESSAGE)
    client.cookies.clear()  # the token alone is not enough: it is bound to the cookie
    assert (await client.post("/submit", data={"csrf_token": token})).status_code == 403
    client.cookies.set(DEV_COOKIE, "B" * 43)  # nor with another browser's cookie
    assert (await client.post("/submit", data={"csrf_token": token})).status_code == 403


@pytest.mark.anyio
async def test_an_expired_token_is_refused(client: httpx.AsyncClient) -> None:
    client.cookies.set(DEV_COOKIE, SECRET)
    old = make_token(KEY, "anon", SECRET, issued=int(time.time()) - 5 * 3600)
    fresh = make_token(KEY, "anon", SECRET, issued=int(time.time()))
    assert (await client.post("/submit", data={"csrf_token": old})).status_code == 403
    assert (await client.post("/submit", data={"csrf_token": fresh})).status_code == 200


@pytest.mark.anyio
async def test_cross_site_posts_are_refused_even_with_a_valid_token(
    client: httpx.AsyncClient,
) -> None:
    (token, _) = tokens(await client.get("/form"))
    form = {"csrf_token": token}
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://testserver.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ):
        refused = await client.post("/submit", data=form, headers=headers)
        assert (refused.status_code, refused.text) == (403, MESSAGE), headers
    for headers in (
        {"Origin": "http://testserver"},
        {"Origin": "https://privacy.example.com"},  # the public URL, behind a proxy
        {"Sec-Fetch-Site": "same-origin"},
        # What Chromium sends on a same-origin form post under Referrer-Policy: no-referrer.
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
        {},
    ):
        accepted = await client.post("/submit", data=form, headers=headers)
        assert accepted.status_code == 200, headers


@pytest.mark.anyio
async def test_a_staff_token_works_only_for_its_own_session(client: httpx.AsyncClient) -> None:
    mine, theirs = "M" * 43, "T" * 43
    token = (await client.get("/staff-form", headers={"x-session-secret": mine})).text
    ok = await client.post(
        "/submit", data={"csrf_token": token}, headers={"x-session-secret": mine}
    )
    assert ok.status_code == 200
    other = await client.post(
        "/submit", data={"csrf_token": token}, headers={"x-session-secret": theirs}
    )
    assert other.status_code == 403
    # Nor as an anonymous token, even where the cookie holds the same secret.
    client.cookies.set(DEV_COOKIE, mine)
    assert (await client.post("/submit", data={"csrf_token": token})).status_code == 403


@pytest.mark.anyio
async def test_outside_development_the_cookie_is_host_prefixed() -> None:
    app = make_app(development=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        page = await c.get("/form")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        lowered = cookie.lower()
        assert "secure" in lowered
        assert "path=/" in lowered
        assert "domain" not in lowered
        (token, _) = tokens(page)
        assert (await c.post("/submit", data={"csrf_token": token})).status_code == 200


def test_the_refusal_says_what_to_do() -> None:
    assert CsrfRefused().status == 403
    assert CsrfRefused().message == MESSAGE
