"""The demo's outbox page: ``/outbox`` lists messages, ``/outbox/{id}`` shows one.

Messages hold one-time codes and download links, so the page exists only
when ``COVENANT_OUTBOX_PAGE`` is on (the demo turns it on; production never
does); otherwise every route answers 404, as if it did not exist. It needs
``app.state.outbox`` (an :class:`~covenant.mail.outbox.Outbox`) and
``app.state.settings``.

Everything shown is escaped. Only http(s) URLs under ``COVENANT_PUBLIC_URL``
become links, so a message cannot turn into a link to anywhere else.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from importlib.resources import files

import jinja2
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from covenant.mail.outbox import Outbox, OutboxEntry
from covenant.settings import Settings

PAGE_SIZE = 50
_URL = re.compile(r"https?://[^\s<>\"']+")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Codes and links must not linger in a browser or proxy cache.
_HEADERS = {"cache-control": "no-store"}


def routes() -> list[BaseRoute]:
    return [
        Route("/outbox", outbox_page),
        Route("/outbox/outbox.css", stylesheet),
        Route("/outbox/{entry_id}", outbox_message),
    ]


async def outbox_page(request: Request) -> Response:
    settings = _settings(request)
    if not settings.outbox_page:
        return _not_found()
    request_id = request.query_params.get("request")
    if request_id is not None and not _REQUEST_ID.match(request_id):
        return _not_found()
    entries = await run_in_threadpool(_outbox(request).messages, request_id, PAGE_SIZE)
    page = _page(entries, settings, title="Outbox", single=False, request_id=request_id)
    return HTMLResponse(page, headers=_HEADERS)


async def outbox_message(request: Request) -> Response:
    settings = _settings(request)
    entry_id = request.path_params["entry_id"]
    if not settings.outbox_page or not _is_uuid(entry_id):
        return _not_found()
    entry = await run_in_threadpool(_outbox(request).get, entry_id)
    if entry is None:
        return _not_found()
    page = _page([entry], settings, title="Outbox message", single=True, request_id=None)
    return HTMLResponse(page, headers=_HEADERS)


async def stylesheet(request: Request) -> Response:
    if not _settings(request).outbox_page:
        return _not_found()
    return Response(_css(), media_type="text/css; charset=utf-8")


def linkify(text: str, base: str) -> Markup:
    """``text`` escaped, with every http(s) URL under ``base`` made a link."""
    parts: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        # Trailing punctuation ends the sentence, not the URL.
        url = match.group(0).rstrip(".,;:!?)")
        parts.append(escape(text[pos : match.start()]))
        if _under(url, base):
            parts.append(Markup('<a href="{0}">{0}</a>').format(url))
        else:
            parts.append(escape(url))
        pos = match.start() + len(url)
    parts.append(escape(text[pos:]))
    return Markup("").join(parts)


def _under(url: str, base: str) -> bool:
    # "https://shop.example" must not match "https://shop.example.evil.test/".
    root = base.rstrip("/")
    return url == root or url.startswith((root + "/", root + "?", root + "#"))


def _page(
    entries: list[OutboxEntry],
    settings: Settings,
    *,
    title: str,
    single: bool,
    request_id: str | None,
) -> str:
    return (
        _environment()
        .get_template("page/outbox.html")
        .render(
            entries=entries,
            title=title,
            single=single,
            request_id=request_id,
            public_url=settings.public_url,
        )
    )


@functools.cache
def _css() -> str:
    return files("covenant.mail").joinpath("templates/page/outbox.css").read_text("utf-8")


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("covenant.mail", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["linkify"] = linkify
    env.filters["when"] = _when
    return env


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404)
