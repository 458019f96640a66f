"""HTTP face of the ad-tech string and of re-consent at sign-in.

Owns three backend-only routes (the store's API key, as for decisions):

- ``GET /api/v1/consent/usprivacy?subject=|consent_id=&jurisdiction=`` the IAB U.S.
  Privacy string for a person or device (honours a forwarded ``Sec-GPC``);
- ``GET /api/v1/consent/login-check?subject=`` whether the login flow must ask again
  about a materially changed statement, and what changed;
- ``POST /api/v1/consent/login-answer`` records the answer (method ``sign_in``,
  evidence ``{"reconsent": true}``).

It decides nothing (:mod:`covenant.consent.adtech`, :mod:`covenant.consent.reconsent`
do) and writes only through :class:`~covenant.consent.engine.ConsentEngine`. Needs
``app.state.settings``, ``app.state.loaded`` and ``app.state.consent``, which the app
factory already sets for the consent API.
"""

from __future__ import annotations

from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from covenant.consent.adtech import UsPrivacy, sale_topics, us_privacy
from covenant.consent.engine import ConsentEngine, Submission
from covenant.consent.reconsent import answer_choices, check_version, login_check
from covenant.consent.records import CONSENT_ID, ConsentError, Method
from covenant.consent.signals import Signals
from covenant.consent.web import (
    ChoiceIn,
    Evidence,
    Jurisdiction,
    Strict,
    SubjectRef,
    _body,
    _engine,
    _param,
    _signals,
    require_backend,
)
from covenant.declaration import Loaded
from covenant.notice.store import VersionStore, default_folder
from covenant.notice.versions import Version


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/consent/usprivacy", usprivacy),
        Route("/api/v1/consent/login-check", check),
        Route("/api/v1/consent/login-answer", answer, methods=["POST"]),
    ]


def _versions(request: Request) -> list[Version]:
    loaded: Loaded = request.app.state.loaded
    return VersionStore(default_folder(loaded)).versions()


def _usp(
    engine: ConsentEngine,
    versions: list[Version],
    subject: str | None,
    device: str | None,
    where: str,
    signals: Signals,
) -> UsPrivacy:
    decisions = [
        (
            topic,
            engine.may_use(
                topic, subject_ref=subject, consent_id=device, jurisdiction=where, signals=signals
            ),
        )
        for topic in sale_topics(engine.policy)
    ]
    return us_privacy(
        jurisdiction=where,
        declared=engine.declaration.organization.jurisdictions,
        statement_version=max((v.number for v in versions), default=None),
        sale_decisions=decisions,
    )


async def usprivacy(request: Request) -> Response:
    require_backend(request)
    subject, device = _param(request, "subject"), _param(request, "consent_id")
    if subject is None and device is None:
        raise ConsentError("give a subject, a consent_id, or both")
    if device is not None and not CONSENT_ID.match(device):
        raise ConsentError("a consent ID is 8 to 64 letters, digits, '-' or '_'")
    engine = await _engine(request)
    where = engine.where(_param(request, "jurisdiction"))
    versions = await run_in_threadpool(_versions, request)
    found = await run_in_threadpool(
        _usp, engine, versions, subject, device, where, _signals(request)
    )
    return JSONResponse(
        {"uspString": found.usp_string, "reason": found.reason, "jurisdiction": where}
    )


async def check(request: Request) -> Response:
    require_backend(request)
    subject = _param(request, "subject")
    if subject is None:
        raise ConsentError("give a subject")
    engine = await _engine(request)
    versions = await run_in_threadpool(_versions, request)
    history = await run_in_threadpool(engine.ledger.subject_history, subject)
    asks = engine.declaration.statement.reconsent_on_material_change
    found = login_check(history, subject, versions, asks_again=asks)
    return JSONResponse(
        {
            "reconsent_needed": found.reconsent_needed,
            "statement_version": found.statement_version,
            "accepted_version": found.accepted_version,
            "changes": list(found.changes),
            "reason": found.reason,
        }
    )


class AnswerIn(Strict):
    subject: SubjectRef
    statement_version: int = Field(ge=1, le=999_999_999)
    accepted: bool
    choices: list[ChoiceIn] = Field(default_factory=list, max_length=64)
    jurisdiction: Jurisdiction | None = None
    evidence: Evidence = {}


async def answer(request: Request) -> Response:
    require_backend(request)
    body = await _body(request, AnswerIn)
    engine = await _engine(request)
    versions = await run_in_threadpool(_versions, request)
    check_version(body.statement_version, versions)
    signals = _signals(request)

    def write() -> list[dict[str, object]]:
        where = engine.where(body.jurisdiction)
        history = engine.ledger.subject_history(body.subject)
        topics = [c.topic for c in body.choices]
        if len(set(topics)) != len(topics):
            raise ConsentError("each purpose or category at most once")
        choices = answer_choices(
            history,
            policy=engine.policy,
            jurisdiction=where,
            accepted=body.accepted,
            asked=[(c.topic, c.choice) for c in body.choices],
        )
        proof = {
            **body.evidence,
            "reconsent": True,
            "answer": "accepted" if body.accepted else "declined",
        }
        written = engine.record(
            Submission(
                choices=choices,
                method=Method.SIGN_IN,
                notice_version=str(body.statement_version),
                subject_ref=body.subject,
                jurisdiction=where,
                evidence=proof,
            ),
            signals=signals,
        )
        return [
            {
                "seq": r.seq,
                "topic": str(r.topic),
                "choice": r.draft.choice.value if r.draft.choice else None,
                "method": r.draft.method.value,
                "notice_version": r.draft.notice_version,
            }
            for r in written
        ]

    recorded = await run_in_threadpool(write)
    return JSONResponse(
        {"recorded": recorded, "statement_version": body.statement_version}, status_code=201
    )
