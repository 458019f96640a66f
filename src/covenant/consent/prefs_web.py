"""The preference center at ``/privacy/preferences`` and one-click unsubscribe over HTTP.

Owns the pages a person uses to manage their consent after proving their e-mail address
(a code sent by mail, :mod:`covenant.requests.codes`), the ``preference_challenges`` table
that holds those codes as keyed hashes, the RFC 8058 unsubscribe endpoints, and the API call
the store's backend uses to mint an unsubscribe link. What may be chosen, and what a form
means, is :mod:`covenant.consent.preferences` (pure); what is allowed is decided by the
consent rules, and every choice goes to the append-only ledger through the consent engine.

Nothing here tells whether an address belongs to a customer: a code goes to any address,
the pages answer alike, and the person is the desk's keyed hash of the address
(``Desk.subject_ref``), never the address.

Needs ``app.state``: ``settings``, ``desk`` (subject references, keys, the outbox,
Covenant's own database), ``keys`` (for CSRF) and ``consent`` (the consent engine), all of
which the app factory sets.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import jinja2
import sqlalchemy as sa
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from covenant.audit.store import UTCDateTime
from covenant.consent import preferences as prefs
from covenant.consent.banner import (
    COOKIE_DAYS,
    COOKIE_NAME,
    StatementRef,
    jurisdiction_for,
    statement_ref,
)
from covenant.consent.decisions import Nature, latest
from covenant.consent.engine import ConsentEngine, Submission
from covenant.consent.records import ConsentError, ConsentRecord, Method, Topic
from covenant.consent.signals import Signals, from_headers
from covenant.consent.web import ConsentState, Strict, _body, require_backend
from covenant.db import metadata
from covenant.desk.service import Desk
from covenant.errors import CovenantError
from covenant.mail import messages as mail
from covenant.notice.store import VersionStore, default_folder
from covenant.requests import codes
from covenant.settings import Settings
from covenant.staff.ratelimit import TokenBucket
from covenant.web.csrf import check_csrf, csrf_token, with_csrf_cookie

PATH = "/privacy/preferences"
UNSUBSCRIBE_PATH = "/privacy/unsubscribe"
STYLESHEET = "/privacy/static/center.css"
SESSION_COOKIE = "__Secure-covenant_preferences"
DEV_SESSION_COOKIE = "covenant_preferences"
SESSION_KEY = "session"
UNSUBSCRIBE_KEY = "status-link"
"""Unsubscribe links are mailed links, like status links; a domain prefix keeps them apart."""
CODES_PER_HOUR = 3
"""Codes sent to one address per hour: the form cannot be used to flood a mailbox."""
FORM_LIMIT = 16 * 1024
COUNTRY_HEADER = "cf-ipcountry"

preference_challenges = sa.Table(
    "preference_challenges",
    metadata,
    # Random and mailed in the link with the code; knowing it without the code is useless.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("subject_ref", sa.String(64), nullable=False, index=True),
    # HMAC-SHA-256 of the code under the email-proof key: the code itself is never stored.
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False, index=True),
    sa.Column("attempts_left", sa.Integer, nullable=False),
)
_c = preference_challenges.c
KEPT = dt.timedelta(days=1)
"""Spent and expired challenges are deleted this long after they expire."""


class FormTooLarge(CovenantError):
    """The form is too large."""

    status = 413


class NotAForm(CovenantError):
    """Send a form: multipart/form-data or application/x-www-form-urlencoded."""

    status = 415


class NotOneClick(ConsentError):
    """A one-click unsubscribe sends the body List-Unsubscribe=One-Click (RFC 8058)."""


class TooManyRequests(CovenantError):
    """Too many attempts from here. Wait a minute and try again."""

    status = 429


class Challenges:
    """E-mail proof codes for the preference center, in Covenant's own database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def open(
        self,
        subject_ref: str,
        challenge: codes.Challenge,
        *,
        now: dt.datetime,
        send: Callable[[sa.Connection, str], None],
    ) -> str:
        """Keep ``challenge`` and run ``send(conn, challenge_id)`` in the same transaction.

        Returns the challenge's id. Past :data:`CODES_PER_HOUR` for the address, nothing is
        kept or sent and an id that matches nothing comes back: the answer looks the same.
        Two requests at the same instant may both pass the count; the per-client limit
        bounds that.
        """
        challenge_id = secrets.token_urlsafe(16)
        with self.engine.begin() as conn:
            conn.execute(preference_challenges.delete().where(_c.expires_at < now - KEPT))
            recent = conn.scalar(
                sa.select(sa.func.count())
                .select_from(preference_challenges)
                .where(_c.subject_ref == subject_ref, _c.created_at > now - dt.timedelta(hours=1))
            )
            if (recent or 0) >= CODES_PER_HOUR:
                return challenge_id
            conn.execute(
                preference_challenges.insert().values(
                    id=challenge_id,
                    subject_ref=subject_ref,
                    hash=challenge.hash,
                    created_at=now,
                    expires_at=challenge.expires_at,
                    attempts_left=challenge.attempts_left,
                )
            )
            send(conn, challenge_id)
        return challenge_id

    def attempt(
        self, challenge_id: str, code: str, *, now: dt.datetime, key: bytes
    ) -> tuple[codes.Outcome, str | None]:
        """One attempt at a code: the outcome, and the person's reference when it passed."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(preference_challenges).where(_c.id == challenge_id)
            ).one_or_none()
            if row is None:
                return codes.Outcome.EXHAUSTED, None
            stored = codes.Challenge(row.hash, row.expires_at, row.attempts_left)
            outcome, after = codes.check(stored, code, now, key)
            # Compare-and-set: two parallel guesses cannot both spend the same attempt.
            done = conn.execute(
                preference_challenges.update()
                .where(_c.id == challenge_id, _c.attempts_left == row.attempts_left)
                .values(attempts_left=after.attempts_left)
            ).rowcount
        if done != 1:
            return codes.Outcome.WRONG, None
        return outcome, str(row.subject_ref) if outcome is codes.Outcome.PASSED else None


def routes() -> list[BaseRoute]:
    return [
        Route(PATH, preferences, methods=["GET", "POST"]),
        Route(f"{PATH}/verify", verify, methods=["GET", "POST"]),
        Route(f"{PATH}/choices", save, methods=["POST"]),
        Route(f"{PATH}/receipt", receipt),
        Route(f"{PATH}/sign-out", sign_out, methods=["POST"]),
        Route(UNSUBSCRIBE_PATH + "/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/api/v1/consent/unsubscribe-link", unsubscribe_link, methods=["POST"]),
    ]


# --- Rendering -----------------------------------------------------------------------------

_env = jinja2.Environment(
    # The center's own base page and stylesheet, so these pages look like the rest of /privacy.
    loader=jinja2.ChoiceLoader(
        [
            jinja2.PackageLoader("covenant.consent", "templates"),
            jinja2.PackageLoader("covenant.desk", "templates"),
        ]
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

_MESSAGES = {
    "verified": "Thank you, your e-mail address is confirmed. Your choices are below.",
    "saved": "Your choices are saved. They take effect now.",
    "unchanged": "Nothing changed: your choices were already as you asked.",
    "expired": "Your session ended. Enter your e-mail address to get a new code.",
    "signed_out": "You are signed out of your preferences.",
}
_OUTCOMES = {
    codes.Outcome.WRONG: "That code is not right. Check the newest message we sent and try again.",
    codes.Outcome.EXPIRED: "That code has expired. Enter your e-mail address again for a new one.",
    codes.Outcome.EXHAUSTED: (
        "That code no longer works: it was used, or tried too often. "
        "Enter your e-mail address again for a new one."
    ),
}


def _render(request: Request, name: str, status_code: int, context: dict[str, Any]) -> Response:
    org = _desk(request).loaded.declaration.organization
    html = _env.get_template(name).render(
        organization=org.name, contacts=org.contacts, stylesheet=STYLESHEET, **context
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return response


def _page(request: Request, name: str, /, status_code: int = 200, **context: Any) -> Response:
    """A page with a form: it carries a CSRF token (and sets its cookie when new)."""
    token = csrf_token(request, None)
    return with_csrf_cookie(
        request, _render(request, name, status_code, {"csrf": token, **context})
    )


# --- The app's services --------------------------------------------------------------------


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _engine(request: Request) -> ConsentEngine:
    state: ConsentState = request.app.state.consent
    # The first call may open and migrate the database: never on the event loop.
    return await run_in_threadpool(state.engine)


def _now(request: Request) -> dt.datetime:
    return _desk(request).clock()


def _limit(request: Request) -> None:
    bucket: TokenBucket | None = getattr(request.app.state, "preferences_limit", None)
    if bucket is None:
        bucket = TokenBucket(capacity=20, per_second=20 / 60)
        request.app.state.preferences_limit = bucket
    client = request.client.host if request.client else "unknown"
    if bucket.take(client, now=time.monotonic()) > 0:
        raise TooManyRequests()


def _signals(request: Request) -> Signals:
    return from_headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)


def _jurisdiction(request: Request, engine: ConsentEngine) -> str:
    """The banner's rule, so this page and the banner never show different defaults."""
    countries = request.headers.getlist(COUNTRY_HEADER)
    declared = engine.declaration.organization.jurisdictions
    return jurisdiction_for(countries[0] if len(countries) == 1 else None, declared)


def _device(request: Request) -> dict[str, object] | None:
    return prefs.device_state(request.cookies.get(COOKIE_NAME))


def _statement(request: Request) -> StatementRef:
    loaded = _desk(request).loaded
    return statement_ref(loaded.declaration, VersionStore(default_folder(loaded)).versions())


async def _form(request: Request, *, csrf: bool = True, max_fields: int = 100) -> FormData:
    """The posted form, read to at most :data:`FORM_LIMIT` bytes however it is sent."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > FORM_LIMIT):
        raise FormTooLarge()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise NotAForm()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:  # a chunked body has no length to check first
            raise FormTooLarge()

    async def once() -> AsyncGenerator[bytes, None]:
        yield bytes(body)

    try:
        if media == "multipart/form-data":
            form = await MultiPartParser(
                request.headers,
                once(),
                max_files=0,
                max_fields=max_fields,
                max_part_size=FORM_LIMIT,
            ).parse()
        else:
            form = await FormParser(request.headers, once()).parse()
    except MultiPartException as exc:
        raise prefs.PreferenceError(f"The form could not be read: {exc.message}") from None
    if len(form.multi_items()) > max_fields:
        raise prefs.PreferenceError()
    if csrf:
        check_csrf(request, form)
    return form


def _fields(form: FormData) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise prefs.PreferenceError()
        out.setdefault(key, []).append(value)
    return out


# --- The session ---------------------------------------------------------------------------


def _session_cookie(request: Request) -> str:
    return DEV_SESSION_COOKIE if _settings(request).development else SESSION_COOKIE


def _subject(request: Request) -> str | None:
    """The verified person of this request, from the session cookie; None without one."""
    return prefs.session_subject(
        request.cookies.get(_session_cookie(request)),
        key=_desk(request).keys.derive(SESSION_KEY),
        now=_now(request),
    )


def _start_session(request: Request, response: Response, subject_ref: str) -> None:
    token = prefs.session_token(
        subject_ref, key=_desk(request).keys.derive(SESSION_KEY), now=_now(request)
    )
    # Scoped to the preference pages; Strict, since every page that needs it is reached
    # from this site. Not __Host-: that prefix requires Path=/ (RFC 6265bis §4.1.3.2).
    response.set_cookie(
        _session_cookie(request),
        token,
        max_age=int(prefs.SESSION_TTL.total_seconds()),
        path=PATH,
        secure=not _settings(request).development,
        httponly=True,
        samesite="strict",
    )


def _expired() -> Response:
    return RedirectResponse(f"{PATH}?m=expired", status_code=303)


# --- Step 1: an e-mail address, and a code sent to it ------------------------------------


async def preferences(request: Request) -> Response:
    if request.method == "POST":
        return await _start(request)
    message = _MESSAGES.get(request.query_params.get("m", ""), "")
    subject = _subject(request)
    if subject is None:
        return _page(request, "preferences/start.html", message=message, problem="", email="")
    return await _choices_page(request, subject, message)


async def _start(request: Request) -> Response:
    """Send a code to the address given, whoever it belongs to; the answer is always the same."""
    _limit(request)
    form = await _form(request)
    email = str(form.get("email", "")).strip()
    try:
        mail.address(email)
    except mail.MailError:
        return _page(
            request,
            "preferences/start.html",
            status_code=400,
            message="",
            problem="Enter one e-mail address, such as name@example.com.",
            email=email[:254],
        )
    desk = _desk(request)
    now = _now(request)
    code, challenge = codes.issue_code(now, desk.keys.derive("email-proof"))
    public = _settings(request).public_url.rstrip("/")

    def send(conn: sa.Connection, challenge_id: str) -> None:
        # The link opens the code form filled in; only the click there spends the code,
        # so a mail scanner that follows links cannot use it up.
        message = mail.verification(
            email,
            letterhead=desk.letterhead,
            expires_in=challenge.expires_at - now,
            code=code,
            link=f"{public}{PATH}/verify?c={challenge_id}&code={code}",
        )
        desk.outbox.queue(message, at=now, conn=conn)

    challenges = Challenges(desk.engine)
    challenge_id = await run_in_threadpool(
        lambda: challenges.open(desk.subject_ref(email), challenge, now=now, send=send)
    )
    return RedirectResponse(f"{PATH}/verify?c={challenge_id}", status_code=303)


_CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


async def verify(request: Request) -> Response:
    if request.method == "GET":
        given = request.query_params.get("c", "")
        prefill = request.query_params.get("code", "")
        return _page(
            request,
            "preferences/verify.html",
            challenge=given if _CHALLENGE_ID.fullmatch(given) else "",
            prefill=prefill if prefill.isdigit() and len(prefill) <= 12 else "",
            message="",
        )
    _limit(request)
    form = await _form(request)
    given = str(form.get("c", ""))
    code = str(form.get("code", ""))
    desk = _desk(request)
    outcome, subject = codes.Outcome.EXHAUSTED, None
    if _CHALLENGE_ID.fullmatch(given):
        outcome, subject = await run_in_threadpool(
            lambda: Challenges(desk.engine).attempt(
                given, code, now=_now(request), key=desk.keys.derive("email-proof")
            )
        )
    if subject is None:
        return _page(
            request,
            "preferences/verify.html",
            status_code=400,
            challenge=given if _CHALLENGE_ID.fullmatch(given) else "",
            prefill="",
            message=_OUTCOMES.get(outcome, _OUTCOMES[codes.Outcome.EXHAUSTED]),
        )
    device = _device(request)
    if device is not None:
        # "Device records link to the person when they verify": the banner's anonymous
        # choices on this browser now count for them, and theirs for this browser.
        engine = await _engine(request)
        where = _jurisdiction(request, engine)
        await run_in_threadpool(
            lambda: engine.link(
                subject_ref=subject,
                consent_id=str(device["id"]),
                method=Method.VERIFICATION,
                jurisdiction=where,
                proof={"page": "preferences", "verified_by": "email_code"},
            )
        )
    response = RedirectResponse(f"{PATH}?m=verified", status_code=303)
    _start_session(request, response, subject)
    return response


# --- Step 2: the choices ------------------------------------------------------------------


def _history(engine: ConsentEngine, subject: str, device: str | None) -> list[ConsentRecord]:
    found = {r.seq: r for r in engine.ledger.subject_history(subject)}
    if device is not None:
        found.update((r.seq, r) for r in engine.ledger.device_history(device))
    return sorted(found.values(), key=lambda r: r.order)


def _current(
    request: Request, engine: ConsentEngine, subject: str
) -> tuple[prefs.Offer, tuple[prefs.Setting, ...]]:
    offered = prefs.offer(engine.declaration, engine.policy)
    device = _device(request)
    history = _history(engine, subject, str(device["id"]) if device else None)
    current = prefs.settings(
        offered,
        history,
        policy=engine.policy,
        jurisdiction=_jurisdiction(request, engine),
        signals=_signals(request),
    )
    return offered, current


def _view(setting: prefs.Setting, offered: prefs.Offer) -> dict[str, Any]:
    return {
        "field": setting.switch.field,
        "label": setting.switch.label,
        "description": setting.switch.description,
        "checked": setting.checked,
        "lock": prefs.lock_words(setting, offered.minimum_age),
        "withdraw": _withdraw_words(setting),
    }


def _withdraw_words(setting: prefs.Setting) -> str | None:
    """The one-click button that turns a switch off, when it is on and may change here."""
    if setting.locked is not None or not setting.on:
        return None
    if setting.switch.group == "sale":
        return "Opt out"
    return "Withdraw consent" if setting.granted else "Turn off"


async def _choices_page(request: Request, subject: str, message: str) -> Response:
    engine = await _engine(request)
    offered, current = await run_in_threadpool(_current, request, engine, subject)
    views = {g: [_view(s, offered) for s in current if s.switch.group == g] for g in _GROUPS}
    org = engine.declaration.organization
    return _page(
        request,
        "preferences/choices.html",
        message=message,
        marketing=views["marketing"],
        sale=views["sale"],
        cookies=views["cookies"],
        always_on=offered.always_on,
        sells_or_shares=org.sells_personal_information or org.shares_personal_information,
        device=_device(request) is not None,
        any_on=any(s.on and s.locked is None for s in current),
    )


_GROUPS = ("marketing", "sale", "cookies")


async def save(request: Request) -> Response:
    """Record what changed on the form, or the one switch (or all) withdrawn in one click."""
    subject = _subject(request)
    if subject is None:
        return _expired()
    form = await _form(request)
    fields = _fields(form)
    engine = await _engine(request)
    device = _device(request)
    statement = await run_in_threadpool(_statement, request)
    signals = _signals(request)

    def apply() -> tuple[bool, tuple[prefs.Setting, ...]]:
        _, current = _current(request, engine, subject)
        chosen = prefs.changes(current, prefs.wanted(current, fields))
        withdrawn = fields.get("withdraw", [""])[0]
        action = {"": "save", prefs.WITHDRAW_ALL: "withdraw_all"}.get(withdrawn, "withdraw")
        if chosen or signals.gpc:
            engine.record(
                Submission(
                    choices=chosen,
                    method=Method.FORM,
                    notice_version=statement.version,
                    subject_ref=subject,
                    consent_id=str(device["id"]) if device else None,
                    jurisdiction=_jurisdiction(request, engine),
                    evidence={"page": "preferences", "action": action},
                ),
                signals=signals,
            )
        return bool(chosen), _current(request, engine, subject)[1]

    changed, after = await run_in_threadpool(apply)
    response = RedirectResponse(f"{PATH}?m={'saved' if changed else 'unchanged'}", status_code=303)
    if device is not None:
        # This browser's banner follows the cookie choices made here at once.
        response.set_cookie(
            COOKIE_NAME,
            prefs.device_cookie(device, prefs.cookie_choices(after), statement),
            max_age=COOKIE_DAYS * 86400,
            path="/",
            secure=not _settings(request).development,
            httponly=False,  # the banner script reads it
            samesite="lax",
        )
    return response


async def receipt(request: Request) -> Response:
    """The person's consent receipt (Kantara Consent Receipt v1.1 fields) as a download."""
    subject = _subject(request)
    if subject is None:
        return _expired()
    engine = await _engine(request)
    found = await run_in_threadpool(engine.receipt, subject)
    if found is None:
        return _render(
            request,
            "preferences/message.html",
            404,
            {
                "title": "No receipt yet",
                "text": "We hold no choices for you yet. Save your choices first, then download "
                "the receipt.",
                "back": PATH,
            },
        )
    return Response(
        json.dumps(found, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "content-disposition": 'attachment; filename="consent-receipt.json"',
            "cache-control": "no-store",
        },
    )


async def sign_out(request: Request) -> Response:
    await _form(request)
    response = RedirectResponse(f"{PATH}?m=signed_out", status_code=303)
    response.delete_cookie(
        _session_cookie(request),
        path=PATH,
        secure=not _settings(request).development,
        httponly=True,
        samesite="strict",
    )
    return response


# --- RFC 8058 one-click unsubscribe ---------------------------------------------------------


def _channel(engine: ConsentEngine, purpose: str) -> str:
    """The name of a declared marketing-communications purpose; :class:`BadLink` otherwise."""
    topic = Topic("purpose", purpose)
    if engine.policy.natures.get(topic) is not Nature.COMMUNICATIONS:
        raise prefs.BadLink()
    return next(p.name for p in engine.declaration.purposes if p.key == purpose)


async def unsubscribe(request: Request) -> Response:
    """GET shows a button and changes nothing (mail scanners follow links); POST unsubscribes.

    RFC 8058: the POST comes from the mail client with the body ``List-Unsubscribe=One-Click``
    (§3.2), with no cookies or login (§3.1), so the link alone is the authority and there is
    no CSRF check; the answer is 200 and never a redirect (§3.1). Repeating it changes nothing.
    """
    engine = await _engine(request)
    key = _desk(request).keys.derive(UNSUBSCRIBE_KEY)
    try:
        link = prefs.read_unsubscribe(
            request.path_params["token"], key=key, today=_now(request).date()
        )
        name = _channel(engine, link.purpose)
    except (prefs.BadLink, ConsentError):
        return _render(request, "preferences/unsubscribe.html", 404, {"state": "bad", "name": ""})
    if request.method == "GET":
        return _render(
            request,
            "preferences/unsubscribe.html",
            200,
            {"state": "ask", "name": name, "action": request.url.path},
        )
    if "content-type" not in request.headers:
        raise NotOneClick()  # an empty POST: say what it lacks, rather than the media type
    form = await _form(request, csrf=False, max_fields=5)
    if form.getlist(prefs.ONE_CLICK[0]) != [prefs.ONE_CLICK[1]]:
        raise NotOneClick()
    statement = await run_in_threadpool(_statement, request)
    await run_in_threadpool(_unsubscribe, engine, link, statement.version)
    return _render(request, "preferences/unsubscribe.html", 200, {"state": "done", "name": name})


def _unsubscribe(engine: ConsentEngine, link: prefs.Unsubscribe, notice_version: str) -> None:
    topic = Topic("purpose", link.purpose)
    last = latest(engine.ledger.subject_history(link.subject_ref), topic)
    choice = prefs.unsubscribe_choice(last.choice if last else None)
    if choice is None:
        return
    engine.record(
        Submission(
            choices=[(topic, choice)],
            method=Method.FORM,
            notice_version=notice_version,
            subject_ref=link.subject_ref,
            evidence={
                "page": "unsubscribe",
                "one_click": True,
                "link_issued": link.issued.isoformat(),
            },
        )
    )


class LinkIn(Strict):
    email: str = Field(min_length=3, max_length=254)
    channel: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    """A marketing-communications purpose's key; by default the one ``may_email`` asks about."""


async def unsubscribe_link(request: Request) -> Response:
    """The store's backend asks for the unsubscribe link and headers of one recipient's mail."""
    require_backend(request)
    body = await _body(request, LinkIn)
    mail.address(body.email)
    engine = await _engine(request)
    purpose = body.channel
    if purpose is None:
        if engine.policy.email_topic is None:
            raise ConsentError("the declaration has no marketing e-mail purpose; give a channel")
        purpose = engine.policy.email_topic.key
    try:
        _channel(engine, purpose)
    except prefs.BadLink:
        raise ConsentError(
            f"{purpose!r} is not a declared marketing-communications purpose"
        ) from None
    desk = _desk(request)
    settings = _settings(request)
    token = prefs.unsubscribe_token(
        desk.subject_ref(body.email),
        purpose,
        key=desk.keys.derive(UNSUBSCRIBE_KEY),
        issued=_now(request).date(),
    )
    url = f"{settings.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}/{token}"
    headers = prefs.unsubscribe_headers(url, allow_http=settings.development)
    return JSONResponse({"url": url, "channel": purpose, "headers": headers})
