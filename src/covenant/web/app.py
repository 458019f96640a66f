"""The app factory: one place that builds the ASGI application from settings.

The declaration is loaded once at start; a broken declaration stops the
service before it listens, with the same located problems ``covenant check``
prints. Covenant's own database is migrated at start, so ``covenant serve``
on a fresh folder just works. Errors are rendered in one place, from the
exception's ``status``; nothing in the domain imports the web framework.

Background work belongs to the lifespan: the job queue (the in-process runner
on SQLite; on PostgreSQL, procrastinate, worked by ``covenant worker``) and
the mail delivery loop start with the service and stop with it.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from covenant.api.web import routes as api_routes
from covenant.consent.adtech_web import routes as adtech_routes
from covenant.consent.banner_web import routes as banner_routes
from covenant.consent.prefs_web import routes as preference_routes
from covenant.consent.web import consent_state
from covenant.consent.web import lifespan as consent_lifespan
from covenant.consent.web import routes as consent_routes
from covenant.db import state_url
from covenant.declaration import Loaded, load
from covenant.desk.build import desk_from_settings
from covenant.desk.web import routes as privacy_routes
from covenant.errors import CovenantError
from covenant.jobs import queue_for
from covenant.jobs.queue import conninfo, ensure_schema
from covenant.mail.smtp import SmtpSender
from covenant.mail.web import routes as outbox_routes
from covenant.migrations import upgrade
from covenant.settings import Settings
from covenant.staff.accounts import StaffAccounts
from covenant.staff.console import routes as console_routes
from covenant.staff.documents import routes as document_routes
from covenant.staff.sessions import StaffSessions
from covenant.staff.web import routes as staff_routes
from covenant.web.background import Ticker
from covenant.web.headers import SecurityHeaders
from covenant.web.pages import routes as page_routes

log = logging.getLogger(__name__)

SENT_KEPT = dt.timedelta(days=7)
"""How long a sent message's sealed text stays, for the outbox page and support."""


def create_app(settings: Settings, *, loaded: Loaded | None = None) -> Starlette:
    """Build the service for ``settings``; ``loaded`` skips reading the declaration again."""
    declaration = loaded or load(settings.config)
    app = Starlette(
        routes=[
            Route("/healthz", health),
            *page_routes(),
            *consent_routes(),
            *adtech_routes(),
            *api_routes(),
            *banner_routes(),
            *privacy_routes(),
            *preference_routes(),
            *staff_routes(),
            *console_routes(),
            *document_routes(),
            *outbox_routes(),
        ],
        middleware=[
            Middleware(SecurityHeaders, development=settings.development),
            Middleware(OpenOnFirstUse),
        ],
        exception_handlers={CovenantError: covenant_error},
        lifespan=lifespan,
    )
    state = app.state
    state.settings = settings
    state.loaded = declaration
    state.consent = consent_state(settings, declaration)
    state.services = Services(settings, declaration)
    return app


class WorkersMisconfigured(CovenantError):
    """Several worker processes cannot share this configuration."""

    exit_code = 2


def check_workers(settings: Settings) -> None:
    """What ``covenant serve --workers N`` (N > 1) needs before it starts N processes.

    Each worker is its own process with its own connections: they can share
    PostgreSQL (the job queue hands each request to one of them), not an embedded
    SQLite file, whose in-process runner assumes it is alone. And every worker
    must sign links, sessions and CSRF tokens with the same key, so a random
    development key (one per process) will not do.
    """
    raw = settings.database_url.get_secret_value() if settings.database_url else None
    url = state_url(raw, settings.config.resolve().parent)
    if url.get_backend_name() != "postgresql":
        raise WorkersMisconfigured(
            "more than one worker needs PostgreSQL as Covenant's own database: "
            "set COVENANT_DATABASE_URL=postgresql+psycopg://..., or serve with --workers 1"
        )
    if settings.secret_key is None:
        raise WorkersMisconfigured(
            "more than one worker needs COVENANT_SECRET_KEY, the same in every worker, "
            "so a link signed by one is accepted by another"
        )


def from_environment() -> Starlette:
    """The app from ``COVENANT_*`` alone: what each process of ``--workers N`` builds."""
    return create_app(Settings())


class Services:
    """What the service opens before it answers: Covenant's own database (migrated), the
    keys, the desk and its queue, staff accounts. Opened once, by the lifespan or by the
    first request when there is no lifespan (a test's ASGI transport)."""

    def __init__(self, settings: Settings, loaded: Loaded) -> None:
        self.settings = settings
        self.loaded = loaded
        self._lock = threading.Lock()
        self.opened = False

    def open(self, state: State) -> None:
        with self._lock:
            if self.opened:
                return
            desk = desk_from_settings(self.settings, loaded=self.loaded)
            upgrade(desk.engine.url)
            if desk.engine.url.get_backend_name() == "postgresql":
                ensure_schema(conninfo(desk.engine.url))  # the job queue's tables
            desk.queue = queue_for(self.settings, desk.fulfil, pending=desk.pending_fulfilment)
            state.desk = desk
            state.keys = desk.keys
            state.audit = desk.store.audit
            state.outbox = desk.outbox
            state.staff = StaffAccounts(desk.engine, audit=desk.store.audit)
            state.sessions = StaffSessions(desk.engine)
            self.opened = True


class OpenOnFirstUse:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            services: Services = scope["app"].state.services
            if not services.opened:
                await run_in_threadpool(services.open, scope["app"].state)
        await self.app(scope, receive, send)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await run_in_threadpool(app.state.services.open, app.state)
    desk = app.state.desk
    settings: Settings = app.state.settings
    sender = SmtpSender.from_settings(settings) if settings.smtp_host else None

    def chores() -> None:
        # Mail goes out; expired packages are deleted, old details purged.
        now = desk.clock()
        desk.outbox.deliver(sender, now=now)
        desk.outbox.purge_sent(now - SENT_KEPT)
        desk.expire()

    ticker = Ticker(chores, every=2.0)
    async with consent_lifespan(app):
        # Starting re-queues every request still in progress: the database is the record.
        await run_in_threadpool(desk.queue.start)
        ticker.start()
        # What startup built (the declaration, SQLAlchemy's metadata and statement caches,
        # templates) lives as long as the process: moved out of the collector's reach, a
        # full collection no longer walks it. Under load that walk stalled every request
        # in flight: decisions' p99 went from ~90 ms to ~10 ms (docs/adtech.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            ticker.stop()
            await run_in_threadpool(desk.queue.stop)
            await run_in_threadpool(desk.close)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def covenant_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CovenantError)
    status = exc.status if 400 <= exc.status < 600 else 500
    # Server-side failures keep their detail in the log, not in the response.
    message = exc.message if status < 500 else "Something went wrong on our side."
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return PlainTextResponse(message, status_code=status)
