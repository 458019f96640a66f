"""The consent API and ``/.well-known/gpc.json``, over the app's consent engine.

Owns the HTTP shape of consent: JSON bodies validated with pydantic (a bad
body is refused with 400 before anything is written), a 64 KiB cap on what
is read, signals taken from the request headers, and the lazy opening of
Covenant's own database. It never decides anything itself and holds no SQL.

The database is opened, and migrated to the latest revision, by the app's
lifespan before the server listens (so a broken ``COVENANT_DATABASE_URL``
stops the service at start), or on first use where no lifespan runs (an
in-process test client).

Decisions (``/decision``, ``/email``) run on the event loop, not on a worker
thread: on PostgreSQL they are read in batches by a
:class:`~covenant.consent.batch.BatchedReader` (the loop keeps serving while
the database answers; concurrent questions share a statement); on SQLite and
MariaDB each is one short indexed SELECT run in place, since the hop to a
thread and back cost more than the query itself (measured in docs/adtech.md).
Serve with one worker process per core. Writes, receipts and first use still
go to a thread.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from covenant.consent.batch import BatchedReader
from covenant.consent.decisions import Decision
from covenant.consent.engine import ConsentEngine, Submission
from covenant.consent.ledger import ConsentLedger, autocommit_reader
from covenant.consent.records import (
    CONSENT_ID,
    REF_MAX,
    TRACKER_CATEGORIES,
    Choice,
    ConsentError,
    Method,
    Scalar,
    Topic,
)
from covenant.consent.signals import Signals, from_headers, gpc_support
from covenant.db import connect, state_url
from covenant.declaration import Loaded
from covenant.jobs.queue import conninfo
from covenant.migrations import upgrade
from covenant.settings import Settings
from covenant.web.bodies import json_bytes


class Unauthorized(ConsentError):
    """Send the store's API key: Authorization: Bearer <COVENANT_API_KEY>."""

    status = 401


class NotConfigured(ConsentError):
    """This part of the API is off until COVENANT_API_KEY is set."""

    status = 403


def require_backend(request: Request) -> None:
    """Only the store's backend may name a person, read their choices or act as staff.

    The banner posts choices for its own device (a consent ID) without a key;
    anything that reads or writes a person's record needs the API key, or
    anyone could read or forge another person's consent.
    """
    settings: Settings = request.app.state.settings
    if settings.api_key is None:
        raise NotConfigured()
    expected = f"Bearer {settings.api_key.get_secret_value()}".encode()
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        raise Unauthorized()


class NotFound(ConsentError):
    """No consent records for this subject."""

    status = 404


class ConsentState:
    """The app's consent engine, opened once on first use and closed at shutdown."""

    def __init__(self, url: sa.URL, loaded: Loaded) -> None:
        self.url = url
        self.loaded = loaded
        self._engine: ConsentEngine | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ConsentState({self.url.render_as_string(hide_password=True)!r})"

    def engine(self) -> ConsentEngine:
        with self._lock:
            if self._engine is None:
                upgrade(self.url)
                ledger = ConsentLedger(connect(self.url), reader=autocommit_reader(self.url))
                batched = (
                    BatchedReader(conninfo(self.url))
                    if self.url.get_backend_name() == "postgresql"
                    else None
                )
                self._engine = ConsentEngine(ledger, self.loaded.declaration, batched=batched)
            return self._engine

    def opened(self) -> ConsentEngine | None:
        """The engine once open, without waiting for the lock: for the event loop."""
        return self._engine

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                if self._engine.batched is not None:
                    self._engine.batched.hang_up()
                self._engine.ledger.dispose()
                self._engine = None


def consent_state(settings: Settings, loaded: Loaded) -> ConsentState:
    """Covenant's own database as ``covenant db upgrade`` finds it: the configured
    URL, or SQLite beside the declaration the service runs from."""
    raw = settings.database_url.get_secret_value() if settings.database_url else None
    return ConsentState(state_url(raw, loaded.path.resolve().parent), loaded)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    state: ConsentState = app.state.consent
    engine = await run_in_threadpool(state.engine)
    yield
    if engine.batched is not None:
        await engine.batched.close()
    await run_in_threadpool(state.close)


def routes() -> list[BaseRoute]:
    return [
        Route("/.well-known/gpc.json", gpc_json),
        Route("/api/v1/consent", record, methods=["POST"]),
        Route("/api/v1/consent/link", link, methods=["POST"]),
        Route("/api/v1/consent/minor", minor, methods=["POST"]),
        Route("/api/v1/consent/decision", decision),
        Route("/api/v1/consent/email", email),
        Route("/api/v1/consent/receipt", receipt),
    ]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SubjectRef = Annotated[str, Field(min_length=1, max_length=REF_MAX)]
ConsentId = Annotated[str, Field(pattern=CONSENT_ID.pattern)]
Jurisdiction = Annotated[str, Field(max_length=8)]
Evidence = Annotated[dict[str, Scalar], Field(max_length=32)]


class ChoiceIn(Strict):
    purpose: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    category: Literal["strictly_necessary", "functional", "analytics", "advertising"] | None = None
    choice: Choice

    @model_validator(mode="after")
    def _one_topic(self) -> ChoiceIn:
        if (self.purpose is None) == (self.category is None):
            raise ValueError("give either purpose or category")
        return self

    @property
    def topic(self) -> Topic:
        if self.purpose is not None:
            return Topic("purpose", self.purpose)
        assert self.category in TRACKER_CATEGORIES
        return Topic("category", self.category)


class ConsentIn(Strict):
    subject: SubjectRef | None = None
    consent_id: ConsentId | None = None
    choices: list[ChoiceIn] = Field(default_factory=list, max_length=64)
    notice_version: str = Field(min_length=1, max_length=64)
    method: Method
    jurisdiction: Jurisdiction | None = None
    evidence: Evidence = {}

    @model_validator(mode="after")
    def _party(self) -> ConsentIn:
        if self.subject is None and self.consent_id is None:
            raise ValueError("give a subject, a consent_id, or both")
        topics = [c.topic for c in self.choices]
        if len(set(topics)) != len(topics):
            raise ValueError("each purpose or category at most once")
        return self


class LinkIn(Strict):
    subject: SubjectRef
    consent_id: ConsentId
    method: Literal[Method.SIGN_IN, Method.SIGN_UP, Method.VERIFICATION, Method.STAFF]
    jurisdiction: Jurisdiction | None = None
    evidence: Evidence = {}


class MinorIn(Strict):
    subject: SubjectRef | None = None
    consent_id: ConsentId | None = None
    method: Method
    jurisdiction: Jurisdiction | None = None
    evidence: Evidence = {}

    @model_validator(mode="after")
    def _party(self) -> MinorIn:
        if self.subject is None and self.consent_id is None:
            raise ValueError("give a subject, a consent_id, or both")
        return self


async def _engine(request: Request) -> ConsentEngine:
    state: ConsentState = request.app.state.consent
    # The first call may open and migrate the database: never on the event loop.
    engine = state.opened()
    return engine if engine is not None else await run_in_threadpool(state.engine)


def _signals(request: Request) -> Signals:
    return from_headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)


M = TypeVar("M", bound=BaseModel)


async def _body(request: Request, model: type[M]) -> M:
    """The body parsed as ``model``; 413, 415 or 400 before anything is written."""
    body = await json_bytes(request)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise ConsentError(_first_error(exc)) from None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:5]]
    return "invalid request body: " + "; ".join(parts)


def _decision_json(decision: Decision, topic: Topic | None, jurisdiction: str) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "basis": decision.basis,
        "reason": decision.reason,
        "record": decision.record,
        "topic": None if topic is None else str(topic),
        "jurisdiction": jurisdiction,
    }


async def gpc_json(request: Request) -> Response:
    """GPC spec §4: the support resource, as application/json."""
    loaded: Loaded = request.app.state.loaded
    return JSONResponse(gpc_support(loaded.declaration.organization.effective_date))


async def record(request: Request) -> Response:
    body = await _body(request, ConsentIn)
    if body.subject is not None or body.method not in ("banner", "gpc"):
        require_backend(request)
    signals = _signals(request)
    submission = Submission(
        choices=[(c.topic, c.choice) for c in body.choices],
        method=body.method,
        notice_version=body.notice_version,
        subject_ref=body.subject,
        consent_id=body.consent_id,
        jurisdiction=body.jurisdiction,
        evidence=body.evidence,
    )
    engine = await _engine(request)
    written = await run_in_threadpool(engine.record, submission, signals=signals)
    return JSONResponse(
        {
            "recorded": [
                {
                    "seq": r.seq,
                    "at": r.at.isoformat(),
                    "topic": str(r.topic),
                    "choice": r.draft.choice.value if r.draft.choice else None,
                    "method": r.draft.method.value,
                }
                for r in written
            ],
            "gpc_honoured": signals.gpc,
        },
        status_code=201,
    )


async def link(request: Request) -> Response:
    require_backend(request)
    body = await _body(request, LinkIn)
    engine = await _engine(request)
    written = await run_in_threadpool(
        lambda: engine.link(
            subject_ref=body.subject,
            consent_id=body.consent_id,
            method=Method(body.method),
            jurisdiction=body.jurisdiction,
            proof=body.evidence,
        )
    )
    return JSONResponse({"seq": written.seq, "at": written.at.isoformat()}, status_code=201)


async def minor(request: Request) -> Response:
    require_backend(request)
    body = await _body(request, MinorIn)
    engine = await _engine(request)
    written = await run_in_threadpool(
        lambda: engine.mark_minor(
            subject_ref=body.subject,
            consent_id=body.consent_id,
            method=body.method,
            jurisdiction=body.jurisdiction,
            proof=body.evidence,
        )
    )
    return JSONResponse({"seq": written.seq, "at": written.at.isoformat()}, status_code=201)


def _param(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ConsentError(f"give {name} once")
    if values and (not values[0] or len(values[0]) > 256):
        raise ConsentError(f"{name} must be 1 to 256 characters")
    return values[0] if values else None


def _topic(request: Request) -> Topic:
    purpose, category = _param(request, "purpose"), _param(request, "category")
    if (purpose is None) == (category is None):
        raise ConsentError("give either purpose or category")
    return Topic("purpose", purpose) if purpose is not None else Topic("category", category or "")


async def decision(request: Request) -> Response:
    require_backend(request)
    subject, device = _param(request, "subject"), _param(request, "consent_id")
    topic = _topic(request)
    engine = await _engine(request)
    where = engine.where(_param(request, "jurisdiction"))
    answer = await engine.may_use_async(
        topic, subject_ref=subject, consent_id=device, jurisdiction=where, signals=_signals(request)
    )
    return JSONResponse(_decision_json(answer, topic, where))


async def email(request: Request) -> Response:
    require_backend(request)
    subject = _param(request, "subject")
    if subject is None:
        raise ConsentError("give a subject")
    engine = await _engine(request)
    where = engine.where(_param(request, "jurisdiction"))
    answer = await engine.may_email_async(subject, jurisdiction=where)
    return JSONResponse(_decision_json(answer, engine.policy.email_topic, where))


async def receipt(request: Request) -> Response:
    require_backend(request)
    subject = _param(request, "subject")
    if subject is None:
        raise ConsentError("give a subject")
    engine = await _engine(request)
    found = await run_in_threadpool(engine.receipt, subject)
    if found is None:
        raise NotFound()
    return Response(
        json.dumps(found, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="consent-receipt.json"'},
    )
