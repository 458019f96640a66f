"""Public pages generated from the declaration: the statement and security.txt.

The statement is rendered from the declaration loaded at start and the
published versions on disk; nothing here is written by hand.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from covenant.declaration import Loaded
from covenant.notice.page import (
    MEDIA_TYPES,
    STYLESHEET,
    security_txt_page,
    statement_css,
    statement_page,
)


def routes() -> list[BaseRoute]:
    return [
        Route("/", home),
        Route("/privacy/statement", statement),
        Route("/privacy/statement.md", statement_md),
        Route("/privacy/statement.txt", statement_txt),
        Route(STYLESHEET, stylesheet),
        Route("/.well-known/security.txt", security_txt),
        Route("/security.txt", security_txt),
    ]


def _loaded(request: Request) -> Loaded:
    loaded: Loaded = request.app.state.loaded
    return loaded


async def home(request: Request) -> Response:
    return RedirectResponse("/privacy/statement", status_code=302)


async def statement(request: Request) -> Response:
    body = statement_page(_loaded(request), "html", stylesheet=STYLESHEET)
    return Response(body, media_type=MEDIA_TYPES["html"])


async def statement_md(request: Request) -> Response:
    return Response(statement_page(_loaded(request), "md"), media_type=MEDIA_TYPES["md"])


async def statement_txt(request: Request) -> Response:
    return Response(statement_page(_loaded(request), "txt"), media_type=MEDIA_TYPES["txt"])


async def stylesheet(request: Request) -> Response:
    return Response(statement_css(), media_type=MEDIA_TYPES["css"])


async def security_txt(request: Request) -> Response:
    """RFC 9116 §3: served at /.well-known/security.txt (and, for legacy, /security.txt)."""
    return PlainTextResponse(security_txt_page(_loaded(request)))
