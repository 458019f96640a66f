"""The staff console at ``/admin``: the queue, a request's page, staff decisions, logging
requests that arrived by e-mail, phone or post, and the two exports.

Owns the HTTP side of the console's work and nothing else: the desk
(:class:`covenant.desk.service.Desk`) decides and records every change, so a
move made here is audited, and its message queued, exactly as anywhere else.
The one piece of SQL here is the queue's read (:func:`open_queue`,
:func:`queue_counts`): open requests only, ordered and paged by the database,
never a whole table loaded into Python.

Every handler calls :func:`covenant.staff.web.authorize` before it does
anything (401 signed out, 403 beyond the role); a signed-out browser asking
for a page is sent to the sign-in page instead. Every POST carries a CSRF
token (:mod:`covenant.web.csrf`) and answers with a 303 back to the request's
page (Post/Redirect/Get). The confirmation shown there is chosen by a short
code in the query string, so no text from a URL ever reaches the page. A
refused action (:class:`~covenant.desk.service.DeskError`,
:class:`~covenant.requests.lifecycle.TransitionRefused`) is shown on the page
in words, with its status code, never as a trace.

What staff see of the person: the contact e-mail and the phone number they
gave (to write to them, and to call back when verifying by phone), an
agent's name and e-mail, and the *names* of the data points that matched,
never their values. Names, notes and evidence are typed by people and are
rendered escaped (Jinja autoescape). Nothing here writes personal data to the
audit trail: the desk's events carry ids and fixed reasons only.

Pages are server-rendered, work without JavaScript, carry no inline script or
style (the CSP is ``default-src 'self'``) and are ``Cache-Control: no-store``.

Needs on ``app.state``: ``desk``, ``staff``, ``sessions``, ``keys``,
``settings`` and, for the list of messages sent, ``outbox``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
import sqlalchemy as sa
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from covenant.audit import Entry, RecordsExported
from covenant.audit.chain import format_time
from covenant.desk.intake import Details, SubmissionRefused, parse
from covenant.desk.service import DENIAL_WORDS, RECORD_MONTHS, Desk, NotFound
from covenant.desk.web import correctable, jurisdictions
from covenant.errors import CovenantError
from covenant.requests.deadlines import DUE_SOON, Deadlines, Standing, add_months, due
from covenant.requests.deadlines import status as deadline_status
from covenant.requests.lifecycle import FINAL, Channel, DenialReason, Kind, State
from covenant.requests.store import Record
from covenant.requests.store import Request as DeskRequest
from covenant.requests.tables import requests
from covenant.staff.roles import Action, NotSignedIn, can
from covenant.staff.sessions import Session
from covenant.staff.web import FormTooLarge, authorize, read_form
from covenant.web.csrf import check_csrf, csrf_token, with_csrf_cookie

PAGE_SIZE = 50
MAX_PAGE = 10_000
"""Beyond this a page number is a typo or a probe, not a queue anyone reads."""
FORM_LIMIT = 64 * 1024
"""Bytes: a 5000-character note in any script, percent-encoded, fits."""
TEXT_MAX = 5000
"""Characters in a note, a denial's note or a task's evidence (the desk's own limit)."""
WEEK = dt.timedelta(days=7)
NO_STORE = {"Cache-Control": "no-store"}
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OPEN = [s.value for s in State if s not in FINAL]

KIND_NAMES: dict[Kind, str] = {
    Kind.KNOW_CATEGORIES: "Know the categories of data",
    Kind.KNOW_SPECIFIC: "Know the specific pieces of data",
    Kind.ACCESS: "Copy of their data",
    Kind.DELETE: "Delete their data",
    Kind.CORRECT: "Correct their data",
    Kind.OPT_OUT_SALE: "Opt out of sale or sharing",
    Kind.OPT_OUT_MARKETING: "Opt out of marketing",
}
STATE_NAMES: dict[State, str] = {
    State.RECEIVED: "Received",
    State.AWAITING_VERIFICATION: "Waiting for verification",
    State.VERIFIED: "Verified, waiting for approval",
    State.IN_PROGRESS: "In progress",
    State.COMPLETED: "Completed",
    State.DENIED: "Denied",
    State.CANCELLED: "Cancelled",
}
CHANNEL_NAMES: dict[Channel, str] = {
    Channel.WEB: "Web form",
    Channel.API: "Store's API",
    Channel.EMAIL: "E-mail",
    Channel.PHONE: "Phone",
    Channel.POST: "Post",
}
STAFF_CHANNELS = (Channel.EMAIL, Channel.PHONE, Channel.POST)
"""The channels staff log by hand (seed P16); web and API requests log themselves."""
STANDING_NAMES: dict[Standing | None, str] = {
    Standing.OVERDUE: "Overdue",
    Standing.DUE_SOON: "Due soon",
    Standing.ON_TIME: "On time",
    None: "No deadline",
}
DENIAL_LABELS: dict[DenialReason, str] = {
    DenialReason.UNVERIFIED: "Identity not verified",
    DenialReason.NO_AGENT_AUTHORITY: "Agent's permission not confirmed",
    DenialReason.EXEMPT_RETENTION: "A law requires keeping the data",
    DenialReason.MANIFESTLY_UNFOUNDED: "Manifestly unfounded or excessive",
    DenialReason.TOO_MANY: "Too many requests in 12 months",
    DenialReason.MINOR: "A child's request needs a parent or guardian",
}
EXTENSION_REASONS: dict[str, str] = {
    "complex": "The request is complex, and answering it fully takes more time.",
    "volume": "We received many requests at once and need more time to answer each properly.",
    "provider": "We need to check records held for us by a service provider.",
}
"""What the person is told when the deadline is extended (CCPA regs §7021(b), GDPR Art. 12(3)).

A fixed list, never free text: the reason goes into the audit trail, which
must hold nothing typed about the person.
"""
METHOD_NAMES = {
    "email_code": "a code sent to their e-mail",
    "email_code+data_points": "an e-mail code and data points matched to our records",
    "data_points": "data points matched to our records",
    "staff_phone": "staff, by phone",
    "staff": "staff",
    "agent_evidence": "the agent's evidence",
    "not_required": "not required (an opt-out)",
}
ACTION_NAMES = {
    "request.received": "Received",
    "verification.sent": "Verification sent",
    "verification.passed": "Verified",
    "verification.failed": "Verification failed",
    "request.approved": "Approved",
    "request.fulfillment_started": "Fulfilment started",
    "request.fulfillment_requeued": "Fulfilment to be retried",
    "request.denied": "Denied",
    "request.deadline_extended": "Deadline extended",
    "request.completed": "Completed",
    "request.cancelled": "Cancelled",
    "erasure.verified": "Erasure proven",
    "export.downloaded": "Package downloaded",
}
MESSAGE_NAMES = {
    "receipt": "Receipt",
    "verification": "Verification code",
    "completion": "Completion",
    "denial": "Denial",
    "extension": "Extension notice",
    "agent_confirmation": "Request to confirm the agent",
}
DONE = {
    "approved": "Approved. The request is being fulfilled.",
    "denied": "Denied. The person is told why.",
    "extended": "Deadline extended. The person is told the new date and why.",
    "noted": "Note added.",
    "verified": "Marked as verified by phone.",
    "agent_waits": "Verified by phone. The request still waits for the agent's permission.",
    "agent": "The agent's signed permission is recorded.",
    "task": "Task marked done.",
    "logged": "Request logged. The person is sent a receipt, and a code where the request needs one.",
}


class ConsoleInputError(CovenantError):
    """The form has a problem."""

    status = 400


class ConsoleFormTooLarge(CovenantError):
    """The form is too large: notes and evidence are 5000 characters at most."""

    status = 413


class NoSuchRequest(NotFound):
    """No such request."""


def routes() -> list[BaseRoute]:
    """The console's routes; ``/admin/requests/new`` before the ``{rid}`` routes it would match."""
    return [
        Route("/admin", queue),
        Route("/admin/requests/new", log_request, methods=["GET", "POST"]),
        Route("/admin/requests/{rid}", request_page),
        Route("/admin/requests/{rid}/approve", approve, methods=["POST"]),
        Route("/admin/requests/{rid}/deny", deny, methods=["POST"]),
        Route("/admin/requests/{rid}/extend", extend, methods=["POST"]),
        Route("/admin/requests/{rid}/notes", add_note, methods=["POST"]),
        Route("/admin/requests/{rid}/verify", verify_by_phone, methods=["POST"]),
        Route("/admin/requests/{rid}/agent", agent_permission, methods=["POST"]),
        Route("/admin/requests/{rid}/tasks/{task_id:int}", complete_task, methods=["POST"]),
        Route("/admin/records.csv", records_csv),
        Route("/admin/audit.jsonl", audit_jsonl),
    ]


# --- The queue's read: SQL on the requests table ------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: str
    kind: Kind
    channel: Channel
    state: State
    jurisdiction: str
    received_at: dt.datetime
    respond_by: dt.datetime | None


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[QueueItem]
    page: int
    more: bool
    """Whether a next page exists."""


@dataclass(frozen=True, slots=True)
class Counts:
    open: int
    overdue: int
    due_this_week: int
    """Open and due within the next 7 days, not yet overdue."""


def open_queue(
    engine: sa.Engine, *, state: State | None = None, page: int = 1, size: int = PAGE_SIZE
) -> QueuePage:
    """One page of open requests (or of those in ``state``), soonest deadline first.

    Requests without a deadline come last, on every backend (NULLs sort first
    on SQLite and MariaDB, last on PostgreSQL, so the order says so itself).
    Closed requests, when ``state`` asks for them, come newest answer first.
    One page is read, with LIMIT and OFFSET: the open queue is small enough
    that an offset costs nothing, and a page number is simple to link to.
    """
    t = requests
    where = t.c.state.in_(_OPEN) if state is None else t.c.state == state.value
    if state is not None and state.final:
        order = [t.c.responded_at.desc(), t.c.id]
    else:
        no_deadline = sa.case((t.c.respond_by.is_(None), 1), else_=0)
        order = [no_deadline, t.c.respond_by, t.c.received_at, t.c.id]
    query = (
        sa.select(
            t.c.id,
            t.c.kind,
            t.c.channel,
            t.c.state,
            t.c.jurisdiction,
            t.c.received_at,
            t.c.respond_by,
        )
        .where(where)
        .order_by(*order)
        .limit(size + 1)  # one more than shown says whether there is a next page
        .offset((page - 1) * size)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    items = [
        QueueItem(
            r.id,
            Kind(r.kind),
            Channel(r.channel),
            State(r.state),
            r.jurisdiction,
            _aware(r.received_at),
            _aware(r.respond_by) if r.respond_by is not None else None,
        )
        for r in rows[:size]
    ]
    return QueuePage(items, page, len(rows) > size)


def queue_counts(engine: sa.Engine, *, now: dt.datetime) -> Counts:
    """How many requests are open, overdue, and due within a week: one counting query."""
    t = requests
    utc = now.astimezone(dt.UTC)  # stored in UTC; SQLite and MariaDB compare wall-clock times
    late = sa.case((t.c.respond_by < utc, 1), else_=0)
    soon = sa.case((sa.and_(t.c.respond_by >= utc, t.c.respond_by < utc + WEEK), 1), else_=0)
    query = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(late), 0),
        sa.func.coalesce(sa.func.sum(soon), 0),
    ).where(t.c.state.in_(_OPEN))
    with engine.connect() as conn:
        total, overdue, week = conn.execute(query).one()
    return Counts(int(total), int(overdue), int(week))


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- Pure helpers: standing, previews, exports ---------------------------------------------


def standing(
    kind: Kind,
    jurisdiction: str,
    received_at: dt.datetime,
    respond_by: dt.datetime | None,
    now: dt.datetime,
) -> Standing | None:
    """Where a request stands against its stored deadline; ``None`` without one.

    ``respond_by`` already includes any extension. The receipt goes out in
    the request's own opening transaction, so acknowledgement is never pending.
    """
    if respond_by is None:
        return None
    deadlines = Deadlines(jurisdiction, kind, received_at, None, respond_by, None, None)
    return deadline_status(deadlines, now, acknowledged=True, soon=DUE_SOON)


@dataclass(frozen=True, slots=True)
class PreviewLine:
    name: str
    figures: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Preview:
    """What fulfilment found or did, in words: from the result the desk recorded."""

    title: str
    lines: list[PreviewLine]
    manual: list[str]
    """Collections no connector could reach: a person must handle them."""
    proven: bool | None = None
    """For erasure and correction: whether re-reading proved the change."""


def preview(summary: Mapping[str, Any]) -> Preview:
    """The result preview for a request's recorded ``summary`` (see ``Desk._run``)."""
    kind = Kind(summary["kind"])
    manual = [str(m) for m in summary.get("manual") or ()]
    if kind is Kind.DELETE:
        return Preview(
            "What the erasure did, per collection",
            [_erasure_line(c) for c in summary.get("collections") or ()],
            manual,
            bool(summary.get("verified")),
        )
    if kind is Kind.CORRECT:
        rows = summary.get("rows") or {}
        lines = [PreviewLine(str(k), _count(int(v), "row") + " changed") for k, v in rows.items()]
        return Preview("What the correction changed", lines, manual, bool(summary.get("verified")))
    if kind is Kind.KNOW_CATEGORIES:
        found = (summary.get("categories") or {}).get("categories") or ()
        lines = [PreviewLine(str(c["label"]), "", str(c.get("description", ""))) for c in found]
        return Preview("The categories the person is told about", lines, manual)
    if kind.is_opt_out:
        topics = [PreviewLine(str(t), "opted out") for t in summary.get("opted_out") or ()]
        return Preview("What the person opted out of", topics, manual)
    counts = summary.get("collections") or {}
    lines = [PreviewLine(str(k), _count(int(v), "row")) for k, v in counts.items() if int(v) > 0]
    title = f"What the package holds: {_count(int(summary.get('rows') or 0), 'row')}"
    return Preview(title, lines, manual)


def _erasure_line(c: Mapping[str, Any]) -> PreviewLine:
    figures = ", ".join(
        f"{word} {int(c.get(key) or 0)}"
        for word, key in (("found", "found"), ("deleted", "deleted"), ("masked", "masked"))
    )
    figures += f", held {int(c.get('held') or 0)}"
    if int(c.get("remaining") or 0):
        figures += f", STILL PRESENT {int(c['remaining'])}"
    note = str(c.get("held_reason") or c.get("kept_reason") or "")
    return PreviewLine(str(c["collection"]), figures, note)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


RECORD_COLUMNS = (
    "request_date",
    "nature",
    "manner",
    "response_date",
    "response",
    "denial_basis",
)
"""CCPA regs §7101(a): the date, nature and manner of the request, the date and nature of
the response, and the basis of any denial."""


def record_lines(records: Iterable[Record], *, batch: int = 500) -> Iterator[str]:
    """The records as CSV text (RFC 4180: CRLF line ends), ``batch`` rows per chunk.

    Every value is a timestamp or one of Covenant's own codes, never text typed
    by a person, so no cell can start a spreadsheet formula.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(RECORD_COLUMNS)
    for n, r in enumerate(records, 1):
        writer.writerow(
            [
                _utc_text(r.request_date),
                r.nature,
                r.manner,
                _utc_text(r.response_date) if r.response_date else "",
                r.response or "",
                r.denial_basis or "",
            ]
        )
        if n % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def audit_lines(entries: Iterable[Entry], *, batch: int = 500) -> Iterator[str]:
    """The audit log as JSON Lines: one entry per line, every field of the chain.

    ``body`` is the stored canonical JSON text, as hashed, not re-encoded: an
    outside verifier rebuilds each :class:`~covenant.audit.Entry` from a line
    and checks the chain with :func:`covenant.audit.verify`.
    """
    lines: list[str] = []
    for entry in entries:
        line = {
            "seq": entry.seq,
            "at": format_time(_aware(entry.at)),
            "action": entry.action,
            "actor": entry.actor,
            "subject_ref": entry.subject_ref,
            "body": entry.body,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        }
        lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        if len(lines) >= batch:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def _utc_text(moment: dt.datetime) -> str:
    return _aware(moment).astimezone(dt.UTC).isoformat()


# --- Pages --------------------------------------------------------------------------------


_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("covenant.staff", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


async def queue(request: Request) -> Response:
    session = await _viewer(request)
    if session is None:
        return _to_login()
    state = _state_filter(request.query_params.get("state", ""))
    page = _page_number(request.query_params.get("page", "1"))
    desk = _desk(request)
    now = desk.clock()
    found, counts = await run_in_threadpool(
        lambda: (
            open_queue(desk.engine, state=state, page=page),
            queue_counts(desk.engine, now=now),
        )
    )
    rows = [_queue_row(desk, item, now) for item in found.items]
    return _page(
        request,
        "console/queue.html",
        session,
        title="Requests",
        here="queue",
        rows=rows,
        counts=counts,
        chosen=state.value if state else "",
        states=[(s.value, STATE_NAMES[s]) for s in State],
        page=found,
        message="",
    )


def _queue_row(desk: Desk, item: QueueItem, now: dt.datetime) -> dict[str, str]:
    place = standing(item.kind, item.jurisdiction, item.received_at, item.respond_by, now)
    return {
        "id": item.id,
        "ref": item.id[:8],
        "kind": KIND_NAMES[item.kind],
        "channel": CHANNEL_NAMES[item.channel],
        "state": STATE_NAMES[item.state],
        "received": _day(item.received_at, desk),
        "due": _day(item.respond_by, desk) if item.respond_by else "None",
        "standing": "" if item.state.final else STANDING_NAMES[place],
        "standing_key": "" if item.state.final or place is None else place.value,
    }


def _state_filter(value: str) -> State | None:
    if not value:
        return None
    try:
        return State(value)
    except ValueError:
        raise ConsoleInputError("Choose a state from the list.") from None


def _page_number(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise ConsoleInputError(f"A page number is a whole number from 1 to {MAX_PAGE}.")
    return int(value)


async def request_page(request: Request) -> Response:
    session = await _viewer(request)
    if session is None:
        return _to_login()
    rid = _rid(request)
    message = DONE.get(request.query_params.get("done", ""), "")
    return await _request_page(request, session, rid, message=message)


async def _request_page(
    request: Request,
    session: Session,
    rid: str,
    *,
    message: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    desk = _desk(request)
    outbox = getattr(request.app.state, "outbox", None)
    staff = request.app.state.staff
    view = await run_in_threadpool(lambda: _request_view(desk, outbox, staff, rid))
    return _page(
        request,
        "console/request.html",
        session,
        status=status,
        title=f"{KIND_NAMES[view['req'].kind]}, {rid[:8]}",
        here="request",
        message=message,
        errors=[("decide", error)] if error else [],
        **view,
    )


def _request_view(desk: Desk, outbox: Any, staff: Any, rid: str) -> dict[str, Any]:
    """Everything the request page shows, read in one go (in the thread pool)."""
    req = _get(desk, rid)
    names = {a.ref: a.username for a in staff.all()}

    def who(actor: str) -> str:
        return f"{names[actor]} (staff)" if actor in names else actor

    try:
        info: Details | None = desk.details(rid)
    except NotFound:
        info = None  # purged after the record period, or opened without details
    entries = list(desk.store.audit.entries(subject_ref=rid))
    summary = desk.result(rid)
    tasks = desk.tasks(rid)
    extended_to = _extension_date(desk, req, entries)
    points = desk.policy.verification_points
    delivered = desk.delivered(rid)
    return {
        "req": req,
        "facts": _facts(desk, req),
        "info": info,
        "matched": [points[m].label if m in points else m for m in info.matched] if info else [],
        "answered_as": KIND_NAMES[Kind(info.answer_as)] if info and info.answer_as else "",
        "documents": _documents(info),
        "evidence": [_trail_line(desk, e, who) for e in entries if e.action.startswith("verif")],
        "trail": [_trail_line(desk, e, who) for e in entries],
        "history": [
            {
                "at": _moment(t.at, desk),
                "move": f"{STATE_NAMES[t.source]} → {STATE_NAMES[t.target]}",
                "actor": who(t.actor),
                "reason": DENIAL_LABELS[t.reason] if t.reason else "",
                "note": t.note,
            }
            for t in desk.store.history(rid)
        ],
        "preview": preview(summary) if summary else None,
        "delivered": delivered,
        "delivered_until": _day(delivered.expires_at, desk) if delivered else "",
        "tasks": tasks,
        "task_done": {t.id: _moment(t.done_at, desk) for t in tasks if t.done_at},
        "task_by": {t.id: who(t.done_by) for t in tasks if t.done_by},
        "notes": [
            {"at": _moment(n.at, desk), "author": who(n.author), "text": n.text}
            for n in desk.notes(rid)
        ],
        "messages": _messages(desk, outbox, rid),
        "could_extend": extended_to is not None,
        "extended_to": _day(extended_to, desk) if extended_to else "",
        "can_verify": req.state in (State.RECEIVED, State.AWAITING_VERIFICATION),
        "needs_agent_permission": bool(
            info and info.agent_email and not info.agent_permission and not req.state.final
        ),
        "denials": [(r.value, DENIAL_LABELS[r], DENIAL_WORDS[r]) for r in DenialReason],
        "extension_reasons": list(EXTENSION_REASONS.items()),
    }


def _extension_date(desk: Desk, req: DeskRequest, entries: list[Entry]) -> dt.datetime | None:
    """The deadline an extension would set; ``None`` once taken, closed, or where the law has none."""
    taken = any(e.action == "request.deadline_extended" for e in entries)
    rules = desk.rules(req.jurisdiction)
    if req.state.final or taken or not rules.allows_extension(req.kind):
        return None
    return due(req.received_at, req.kind, rules, tz=desk.tz, extended=True).extended_respond_by


DOCUMENT_NAMES = {"application/pdf": "PDF", "image/png": "PNG image", "image/jpeg": "JPEG image"}


def _documents(info: Details | None) -> list[dict[str, str]]:
    """The files sent with the request (an agent's signed permission), to open as attachments."""
    if info is None:
        return []
    return [
        {
            "number": str(n),
            "what": DOCUMENT_NAMES.get(str(d.get("media_type")), "File"),
            "size": f"{max(1, int(d.get('bytes') or 0) // 1024)} KB",
        }
        for n, d in enumerate(info.documents)
    ]


def _facts(desk: Desk, req: DeskRequest) -> list[tuple[str, str]]:
    now = desk.clock()
    place = standing(req.kind, req.jurisdiction, req.received_at, req.respond_by, now)
    facts = [
        ("Reference", req.id),
        ("Request", KIND_NAMES[req.kind]),
        ("Arrived by", CHANNEL_NAMES[req.channel]),
        ("Jurisdiction", req.jurisdiction),
        ("State", STATE_NAMES[req.state]),
        ("Received", _day(req.received_at, desk)),
        ("Due", _day(req.respond_by, desk) if req.respond_by else "No deadline"),
    ]
    if not req.state.final:
        facts.append(("Standing", STANDING_NAMES[place]))
    if req.responded_at:
        facts.append(("Answered", _day(req.responded_at, desk)))
    return facts


def _trail_line(desk: Desk, entry: Entry, who: Callable[[str], str]) -> dict[str, str]:
    return {
        "at": _moment(entry.at, desk),
        "what": ACTION_NAMES.get(entry.action, entry.action),
        "actor": who(entry.actor),
        "detail": _detail(entry),
    }


def _detail(entry: Entry) -> str:
    """The plain-words detail of one audit entry: methods, counts and fixed reasons only."""
    try:
        body = json.loads(entry.body)
    except ValueError:
        return ""
    method = METHOD_NAMES.get(str(body.get("method", "")), str(body.get("method", "")))
    if entry.action == "verification.passed":
        return f"By {method}; {_count(int(body.get('data_points', 0)), 'data point')} matched"
    if entry.action == "verification.sent":
        return f"By {method}"
    if entry.action == "verification.failed":
        return str(body.get("reason", ""))
    if entry.action == "request.deadline_extended":
        return f"New date {body.get('new_due', '')}. {body.get('reason', '')}"
    if entry.action == "request.denied":
        reason = str(body.get("reason", ""))
        return DENIAL_LABELS.get(DenialReason(reason), reason) if reason in _REASONS else reason
    if entry.action == "request.received":
        channel = str(body.get("channel", ""))
        return CHANNEL_NAMES.get(Channel(channel), channel) if channel in _CHANNELS else channel
    return ""


_REASONS = {r.value for r in DenialReason}
_CHANNELS = {c.value for c in Channel}


def _messages(desk: Desk, outbox: Any, rid: str) -> list[dict[str, str]]:
    """What the person was sent: the kind of message and its state, never its text."""
    if outbox is None:
        return []
    return [
        {
            "what": MESSAGE_NAMES.get(e.template, e.template),
            "at": _moment(e.created_at, desk),
            "state": str(getattr(e.state, "value", e.state)),
        }
        for e in outbox.messages(rid, 50)
    ]


# --- Staff decisions ----------------------------------------------------------------------


Work = Callable[[Desk, Session, dict[str, str], str], str]


async def _act(request: Request, action: Action, work: Work) -> Response:
    """Authorize, read the form, check CSRF, run ``work`` off the loop, then redirect back.

    ``work`` returns the confirmation's code; a refusal (a desk or lifecycle
    error, or a form problem) renders the request page with its message.
    """
    session = await authorize(request, action)
    rid = _rid(request)
    form = await _read(request)
    check_csrf(request, form)
    desk = _desk(request)
    await run_in_threadpool(_get, desk, rid)
    try:
        done = await run_in_threadpool(work, desk, session, form, rid)
    except CovenantError as refused:
        if refused.status >= 500 or isinstance(refused, NoSuchRequest):
            raise
        return await _request_page(
            request, session, rid, error=refused.message, status=refused.status
        )
    return RedirectResponse(f"/admin/requests/{rid}?done={done}", status_code=303, headers=NO_STORE)


async def approve(request: Request) -> Response:
    def work(desk: Desk, session: Session, form: dict[str, str], rid: str) -> str:
        desk.approve(rid, actor=session.actor)
        return "approved"

    return await _act(request, Action.APPROVE, work)


async def deny(request: Request) -> Response:
    def work(desk: Desk, session: Session, form: dict[str, str], rid: str) -> str:
        value = form.get("reason", "")
        if value not in _REASONS:
            raise ConsoleInputError("Choose the reason for the denial from the list.")
        note = _text(form.get("note", ""), "The note", required=False)
        desk.deny(rid, actor=session.actor, reason=DenialReason(value), note=note)
        return "denied"

    return await _act(request, Action.DENY, work)


async def extend(request: Request) -> Response:
    def work(desk: Desk, session: Session, form: dict[str, str], rid: str) -> str:
        reason = EXTENSION_REASONS.get(form.get("reason", ""))
        if reason is None:
            raise ConsoleInputError("Choose why the request needs more time from the list.")
        desk.extend(rid, actor=session.actor, reason=reason)
        return "extended"

    return await _act(request, Action.EXTEND, work)


async def add_note(request: Request) -> Response:
    def work(desk: Desk, session: Session, form: dict[str, str], rid: str) -> str:
        desk.add_note(rid, actor=session.actor, text=_text(form.get("text", ""), "A note"))
        return "noted"

    return await _act(request, Action.ADD_NOTE, work)


async def verify_by_phone(request: Request) -> Response:
    def work(desk: Desk, session: Session, form: dict[str, str], rid: str) -> str:
        if form.get("confirmed") != "yes":
            raise ConsoleInputError("Tick the box to confirm you verified the person by phone.")
        # Only before verification: from "in progress", a move to verified
        # would mean "retry fulfilment", not "verified".
        if _get(desk, rid).state not in (State.RECEIVED, State.AWAITING_VERIFICATION):
            raise ConsoleInputError("This request is past verification.")
        desk.verify_by_staff(rid, actor=session.actor, method="phone")
        verified = _get(desk, rid).state not in (State.RECEIVED, State.AWAITING_VERIFICATION)
        return "verified" if verified else "agent_waits"

    return await _act(request, Action.VERIFY, work)


async def agent_permission(request: Request) -> Response:
    def work(desk: Desk, session: Session, form: dict[str, str], rid: str) -> str:
        if form.get("permission") != "yes":
            raise ConsoleInputError("Tick the box to confirm you saw the signed permission.")
        if not desk.details(rid).agent_email:
            raise ConsoleInputError("This request was not made by an agent.")
        desk.record_agent_evidence(rid, actor=session.actor, permission=True)
        return "agent"

    return await _act(request, Action.VERIFY, work)


async def complete_task(request: Request) -> Response:
    task_id: int = request.path_params["task_id"]

    def work(desk: Desk, session: Session, form: dict[str, str], rid: str) -> str:
        task = next((t for t in desk.tasks(rid) if t.id == task_id), None)
        if task is None:
            raise NoSuchRequest("This request has no such task.")
        if task.done_at is not None:
            raise ConsoleInputError("This task is already done.")
        evidence = _text(form.get("evidence", ""), "The evidence")
        desk.complete_task(task_id, actor=session.actor, evidence=evidence)
        return "task"

    return await _act(request, Action.COMPLETE_TASK, work)


def _text(value: str, what: str, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise ConsoleInputError(f"{what} is empty: say what was done or found.")
    if len(value) > TEXT_MAX:
        raise ConsoleInputError(f"{what} is {len(value)} characters; {TEXT_MAX} at most.")
    return value


# --- Logging a request that arrived by e-mail, phone or post (seed P16) ---------------------


async def log_request(request: Request) -> Response:
    if request.method == "GET":
        session = await _viewer(request, Action.ADD_NOTE)
        if session is None:
            return _to_login()
        return _log_page(request, session, values={}, problems={})
    session = await authorize(request, Action.ADD_NOTE)
    form = await _read(request)
    check_csrf(request, form)
    values = {k: v for k, v in form.items() if k != "csrf_token"}
    problems: dict[str, str] = {}
    channel = next((c for c in STAFF_CHANNELS if c.value == form.get("channel")), None)
    if channel is None:
        problems["channel"] = "Choose how the request arrived: e-mail, phone or post."
    try:
        submission = parse(_submission_data(form))
    except SubmissionRefused as refused:
        problems = {**refused.problems, **problems}
    if problems or channel is None:
        return _log_page(request, session, values=values, problems=problems, status=400)
    desk = _desk(request)
    try:
        made = await run_in_threadpool(
            lambda: desk.submit(submission, channel=channel, actor=session.actor)
        )
    except CovenantError as refused:
        if refused.status >= 500:
            raise
        problems = {"email": refused.message}
        return _log_page(request, session, values=values, problems=problems, status=400)
    return RedirectResponse(
        f"/admin/requests/{made.id}?done=logged", status_code=303, headers=NO_STORE
    )


def _submission_data(form: Mapping[str, str]) -> dict[str, Any]:
    corrections: dict[str, str] = {}
    for i in range(3):
        target, value = form.get(f"fix_field_{i}", ""), form.get(f"fix_value_{i}", "")
        if target and value:
            corrections[target] = value
    data: dict[str, Any] = {
        key: form[key]
        for key in ("kind", "email", "name", "jurisdiction", "agent_name", "agent_email", "phone")
        if key in form
    }
    data["declaration_signed"] = form.get("declaration_signed") == "yes"
    if corrections:
        data["corrections"] = corrections
    return data


_FIELD_ORDER = ("kind", "channel", "email", "phone", "name", "jurisdiction", "agent_name")


def _log_page(
    request: Request,
    session: Session,
    *,
    values: Mapping[str, str],
    problems: Mapping[str, str],
    status: int = 200,
) -> Response:
    desk = _desk(request)
    known = [f for f in _FIELD_ORDER if f in problems]
    rest = [f for f in problems if f not in known]
    return _page(
        request,
        "console/new.html",
        session,
        status=status,
        title="Log a request",
        here="new",
        message="",
        errors=[(f, problems[f]) for f in known + rest],
        problems=problems,
        values=values,
        kinds=[(k.value, KIND_NAMES[k]) for k in Kind],
        channels=[(c.value, CHANNEL_NAMES[c]) for c in STAFF_CHANNELS],
        jurisdictions=jurisdictions(desk),
        correctable=correctable(desk),
    )


# --- Exports ------------------------------------------------------------------------------


async def records_csv(request: Request) -> Response:
    """The CCPA §7101 records of the last 24 months, streamed as CSV."""
    session = await _viewer(request)
    if session is None:
        return _to_login()
    desk = _desk(request)
    now = desk.clock()
    since = dt.datetime.combine(add_months(now.date(), -RECORD_MONTHS), now.timetz())
    lines = record_lines(desk.store.records(since=since))
    await _exported(desk, session, "requests")
    return _download(lines, f"covenant-records-{now.date().isoformat()}.csv", "text/csv")


async def audit_jsonl(request: Request) -> Response:
    """The whole audit log, streamed as JSON Lines: for administrators only."""
    session = await _viewer(request, Action.MANAGE_STAFF)
    if session is None:
        return _to_login()
    desk = _desk(request)
    await _exported(desk, session, "audit")
    lines = audit_lines(desk.store.audit.entries())
    name = f"covenant-audit-{desk.clock().date().isoformat()}.jsonl"
    return _download(lines, name, "application/jsonl")


async def _exported(desk: Desk, session: Session, export: str) -> None:
    event = RecordsExported(
        actor=f"staff:{session.account_id}", subject_ref=f"export:{export}", export=export
    )
    await run_in_threadpool(desk.store.audit.append, event, at=desk.clock())


def _download(lines: Iterator[str], name: str, media: str) -> Response:
    async def body() -> Any:
        async for chunk in iterate_in_threadpool(lines):
            yield chunk.encode("utf-8")

    return StreamingResponse(
        body(),
        media_type=f"{media}; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"', **NO_STORE},
    )


# --- Shared -------------------------------------------------------------------------------


async def _viewer(request: Request, action: Action = Action.VIEW) -> Session | None:
    """The session allowed ``action``; ``None`` when signed out (403 beyond the role)."""
    try:
        return await authorize(request, action)
    except NotSignedIn:
        return None


def _to_login() -> Response:
    return RedirectResponse("/admin/login", status_code=303, headers=NO_STORE)


async def _read(request: Request) -> dict[str, str]:
    try:
        return await read_form(request, limit=FORM_LIMIT)
    except FormTooLarge:
        raise ConsoleFormTooLarge() from None


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _rid(request: Request) -> str:
    rid: str = request.path_params["rid"]
    if not _ID.fullmatch(rid):
        raise NoSuchRequest()
    return rid


def _get(desk: Desk, rid: str) -> DeskRequest:
    try:
        return desk.store.get(rid)
    except CovenantError:
        raise NoSuchRequest() from None


def _day(moment: dt.datetime, desk: Desk) -> str:
    """The calendar day of ``moment`` where the store is (the declaration's time zone)."""
    return moment.astimezone(desk.tz).date().isoformat()


def _moment(moment: dt.datetime, desk: Desk) -> str:
    return _aware(moment).astimezone(desk.tz).strftime("%Y-%m-%d %H:%M")


def _page(
    request: Request,
    template: str,
    session: Session,
    /,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    context.setdefault("errors", [])
    body = _templates.get_template(template).render(
        csrf=csrf_token(request, None),
        session=session,
        can_act={a.value: can(session.role, a) for a in Action},
        timezone=str(_desk(request).tz),
        **context,
    )
    response = HTMLResponse(body, status_code=status, headers=NO_STORE)
    return with_csrf_cookie(request, response)
