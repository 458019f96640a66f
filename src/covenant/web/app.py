"""The app factory: one place that builds the ASGI application from settings.

The declaration is loaded once at start; a broken declaration stops the
service before it listens, with the same located problems ``covenant check``
prints. Errors are rendered in one place, from the exception's ``status``;
nothing in the domain imports the web framework.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from covenant.consent.web import consent_state, lifespan
from covenant.consent.web import routes as consent_routes
from covenant.declaration import Loaded, load
from covenant.errors import CovenantError
from covenant.settings import Settings
from covenant.web.headers import SecurityHeaders
from covenant.web.pages import routes as page_routes


def create_app(settings: Settings, *, loaded: Loaded | None = None) -> Starlette:
    """Build the service for ``settings``; ``loaded`` skips reading the declaration again."""
    declaration = loaded or load(settings.config)
    app = Starlette(
        routes=[Route("/healthz", health), *page_routes(), *consent_routes()],
        middleware=[Middleware(SecurityHeaders, development=settings.development)],
        exception_handlers={CovenantError: covenant_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.loaded = declaration
    app.state.consent = consent_state(settings, declaration)
    return app


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def covenant_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CovenantError)
    status = exc.status if 400 <= exc.status < 600 else 500
    # Server-side failures keep their detail in the log, not in the response.
    message = exc.message if status < 500 else "Something went wrong on our side."
    return PlainTextResponse(message, status_code=status)
