"""The consent banner over HTTP: ``/consent.js``, ``/consent.css`` and a demo page.

Owns serving the banner script with the configuration
:mod:`covenant.consent.banner` derives for this request (its GPC and DNT
headers, its country when a CDN says it), and the demo pages that show the
banner blocking and releasing tagged scripts. It decides nothing and writes
nothing: the script posts choices to the consent API (:mod:`covenant.consent.web`).

Needs ``app.state.loaded`` (the declaration), which the app factory sets.
"""

from __future__ import annotations

import hashlib
import html
from functools import cache
from importlib.resources import files

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from covenant.consent.banner import banner_config, render_script, statement_ref
from covenant.consent.records import ConsentError, jurisdiction
from covenant.consent.signals import from_headers
from covenant.declaration import Loaded
from covenant.notice.store import VersionStore, default_folder

COUNTRY_HEADER = "cf-ipcountry"
"""Cloudflare's visitor-country header (ISO 3166-1 alpha-2). A CDN that sets it also
overwrites any value the browser sent; without one, a visitor can only choose the
banner's mode for their own browser, never anyone else's."""

VARY = "Sec-GPC, DNT, CF-IPCountry"
"""Everything the served script depends on besides the declaration (RFC 9110 §12.5.5)."""

JS = "text/javascript; charset=utf-8"  # RFC 9239 §3
CSS = "text/css; charset=utf-8"

DEMO_ASSETS = {
    "analytics.js": JS,
    "advertising.js": JS,
    "demo.css": CSS,
    "pixel.svg": "image/svg+xml",
}


def routes() -> list[BaseRoute]:
    return [
        Route("/consent.js", consent_js),
        Route("/consent.css", consent_css),
        Route("/consent/demo", demo),
        Route("/consent/demo/second", demo_second),
        Route("/consent/demo/{name}", demo_asset),
    ]


@cache
def _static(*parts: str) -> str:
    """A file shipped in ``covenant/consent/static``; package data, read once."""
    return files("covenant.consent").joinpath("static", *parts).read_text(encoding="utf-8")


def _etag(body: str) -> str:
    return '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'


def _matches(request: Request, etag: str) -> bool:
    """RFC 9110 §13.1.2: If-None-Match compares weakly, and ``*`` matches any."""
    given = request.headers.get("if-none-match", "")
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    return etag in tags or "*" in tags


def _cached(request: Request, body: str, media_type: str, headers: dict[str, str]) -> Response:
    etag = _etag(body)
    headers = {**headers, "ETag": etag}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _script(loaded: Loaded, request: Request) -> str:
    versions = VersionStore(default_folder(loaded)).versions()
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    countries = [v for k, v in raw if k.lower() == COUNTRY_HEADER]
    config = banner_config(
        loaded,
        statement=statement_ref(loaded.declaration, versions),
        signals=from_headers(raw),
        # Several country lines mean no trustworthy one: fall back to the default.
        country=countries[0] if len(countries) == 1 else None,
    )
    return render_script(_static("consent.js"), config)


async def consent_js(request: Request) -> Response:
    """The banner script with this request's configuration.

    ``no-cache`` with an ETag: caches revalidate each time, so a changed declaration or a
    newly published statement reaches the next page view, at the cost of a 304.
    """
    loaded: Loaded = request.app.state.loaded
    body = await run_in_threadpool(_script, loaded, request)
    return _cached(request, body, JS, {"Cache-Control": "no-cache", "Vary": VARY})


async def consent_css(request: Request) -> Response:
    return _cached(request, _static("consent.css"), CSS, {"Cache-Control": "no-cache"})


async def demo_asset(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = DEMO_ASSETS.get(name)
    if media_type is None:
        return Response("Not Found", status_code=404, media_type="text/plain; charset=utf-8")
    return _cached(request, _static("demo", name), media_type, {"Cache-Control": "no-cache"})


class BadJurisdiction(ConsentError):
    """jurisdiction must be a code such as eu, uk, us or us-ca."""


def _jurisdiction(request: Request) -> str | None:
    values = request.query_params.getlist("jurisdiction")
    if not values:
        return None
    if len(values) > 1 or len(values[0]) > 8:
        raise BadJurisdiction()
    value = values[0].lower()
    try:
        code = jurisdiction(value)
    except ConsentError:
        raise BadJurisdiction() from None
    if code != value:  # surrounding whitespace of any kind is refused, not trimmed
        raise BadJurisdiction()
    return code


async def demo(request: Request) -> Response:
    return _demo_page(request, second=False)


async def demo_second(request: Request) -> Response:
    return _demo_page(request, second=True)


def _demo_page(request: Request, *, second: bool) -> Response:
    """A page as a store would write it: the banner script, tagged scripts and a tagged pixel.

    ``?jurisdiction=us`` puts ``data-jurisdiction`` on the script tag, as a store that
    knows its visitor's place would. No inline script or style: the CSP forbids both.
    """
    loaded: Loaded = request.app.state.loaded
    where = _jurisdiction(request)
    org = html.escape(loaded.declaration.organization.name)
    attr = f' data-jurisdiction="{html.escape(where)}"' if where else ""
    query = f"?jurisdiction={html.escape(where)}" if where else ""
    title = "Second page" if second else "Consent banner demo"
    other = (
        f'<a href="/consent/demo{query}">Back to the first page</a>'
        if second
        else f'<a href="/consent/demo/second{query}">Go to a second page</a>'
    )
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: {org}</title>
<link rel="stylesheet" href="/consent/demo/demo.css">
<link rel="stylesheet" href="/consent.css">
<script src="/consent.js"{attr}></script>
</head>
<body>
<main>
<h1>{title}</h1>
<p>This page shows {org}'s consent banner. Its categories and texts come from the
declared trackers. The analytics and advertising scripts below are tagged
<code>type="text/plain" data-category="..."</code>: they run only once their
category is allowed, and the list below says when they did.</p>
<p><button type="button" data-covenant-open>Privacy choices</button></p>
<h2>What ran on this page</h2>
<ul id="demo-log"></ul>
<p><img data-category="advertising" data-src="/consent/demo/pixel.svg" alt="" width="1"
height="1" id="demo-pixel"></p>
<p>{other}</p>
</main>
<script type="text/plain" data-category="analytics" src="/consent/demo/analytics.js"></script>
<script type="text/plain" data-category="advertising" src="/consent/demo/advertising.js"></script>
</body>
</html>
"""
    return Response(body, media_type="text/html; charset=utf-8")
