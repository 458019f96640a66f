"""Public pages generated from the declaration: the statement and security.txt."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route


def routes() -> list[BaseRoute]:
    return [
        Route("/", home),
    ]


async def home(request: Request) -> Response:
    return RedirectResponse("/privacy/statement", status_code=302)


_ = (HTMLResponse, PlainTextResponse)
