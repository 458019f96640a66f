"""Requests in Covenant's own database: opening them, moving them, extending their deadline.

A move is checked by :mod:`covenant.requests.lifecycle`, then written with a
compare-and-set on the request's ``version``, in the same transaction as its
row in ``request_transitions`` and its entry in the audit trail. Two
processes moving the same request cannot both succeed, and a crash or a
failed audit append leaves either the whole move or none of it: a request
never moves without the audit trail saying so. Moving a request to the state
it is already in is a no-op (and records nothing), so a retried step is safe.

Every write runs inside :meth:`AuditLog.transaction`, which takes the audit
log's append lock first (``BEGIN IMMEDIATE`` on SQLite, an advisory
transaction lock on PostgreSQL, ``GET_LOCK`` on MariaDB). Writes to requests
are therefore serialized with every other audited write; the chain has one
head, so they would wait for it anyway.

The audit entries name the request by its id, never by the request's
``subject_ref``: one request's trail is ``AuditLog.entries(subject_ref=id)``,
and the log does not tie a person's requests together. No note or free text
typed about the person goes into the log either; notes stay in
``request_transitions``, which is kept with the request.

Extensions. There is no column for "extended" (the schema stays as it is), so
the :class:`~covenant.audit.DeadlineExtended` entry in the audit trail is the
record that the one extension was taken, with its reason; ``respond_by`` is
moved to the extended deadline in the same transaction. The audit trail is
the authority rather than a comparison of ``respond_by`` with the first
deadline, because ``respond_by`` may have been set explicitly at opening.
Reading the trail before the compare-and-set is race-free: any extension in
between bumps ``version``, and the compare-and-set then fails.

Never reads the clock: callers pass ``at``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import sqlalchemy as sa

from covenant.audit import (
    AuditEvent,
    AuditLog,
    DeadlineExtended,
    FulfillmentRequeued,
    FulfillmentStarted,
    RequestApproved,
    RequestCancelled,
    RequestCompleted,
    RequestDenied,
    RequestReceived,
    VerificationPassed,
    VerificationSent,
)
from covenant.requests.deadlines import DeadlineRules, due
from covenant.requests.lifecycle import (
    FINAL,
    Channel,
    DenialReason,
    Kind,
    State,
    Transition,
    TransitionRefused,
    move,
)
from covenant.requests.tables import requests, transitions


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    kind: Kind
    channel: Channel
    state: State
    jurisdiction: str
    subject_ref: str
    received_at: dt.datetime
    respond_by: dt.datetime | None
    responded_at: dt.datetime | None
    response: str | None
    denial_reason: DenialReason | None
    version: int


@dataclass(frozen=True, slots=True)
class Record:
    """One request as CCPA §7101(a) asks a business to keep it for 24 months."""

    request_date: dt.datetime
    nature: str
    manner: str
    response_date: dt.datetime | None
    response: str | None
    denial_basis: str | None


class RequestStore:
    """Requests in one database, every write audited in ``audit``'s chain.

    ``audit`` must be built on the same ``engine``: a move and its audit
    entry share one transaction, which cannot span two databases.
    """

    def __init__(self, engine: sa.Engine, *, audit: AuditLog) -> None:
        if audit.engine is not engine:
            raise ValueError("the audit log must use the request store's engine")
        self.engine = engine
        self.audit = audit

    def open(
        self,
        *,
        kind: Kind,
        channel: Channel,
        jurisdiction: str,
        subject_ref: str,
        received_at: dt.datetime,
        actor: str = "consumer",
        by_agent: bool = False,
        respond_by: dt.datetime | None = None,
        rules: DeadlineRules | None = None,
        tz: dt.tzinfo | None = None,
        also: Callable[[sa.Connection, str], None] | None = None,
    ) -> Request:
        """Record a new request and its ``request.received`` audit entry, together.

        The response deadline is ``respond_by`` when given, else computed from
        ``rules`` in the store's time zone ``tz`` (both needed); with neither,
        the request has no deadline. ``actor`` is who submitted or logged it
        (``consumer``, ``agent``, or ``staff:<id>`` for one that arrived by
        phone or post); ``by_agent`` says an authorized agent acts for the person.
        """
        if received_at.tzinfo is None or (respond_by is not None and respond_by.tzinfo is None):
            raise ValueError("received_at and respond_by must be timezone-aware")
        if rules is not None:
            if respond_by is not None:
                raise ValueError("give respond_by or rules, not both")
            if tz is None:
                raise ValueError("computing respond_by from rules needs the store's tz")
            respond_by = due(received_at, kind, rules, tz=tz).respond_by
        request_id = str(uuid.uuid4())
        event = RequestReceived(
            actor=actor,
            subject_ref=request_id,
            kind=kind.value,
            channel=channel.value,
            jurisdiction=jurisdiction,
            by_agent=by_agent,
        )
        row = {
            "id": request_id,
            "kind": kind.value,
            "channel": channel.value,
            "state": State.RECEIVED.value,
            "jurisdiction": jurisdiction,
            "subject_ref": subject_ref,
            "received_at": _utc(received_at),
            "respond_by": _utc(respond_by) if respond_by else None,
            "version": 0,
        }
        with self.audit.transaction() as conn:
            conn.execute(requests.insert(), row)
            self.audit.append_in(conn, event, at=received_at)
            if also is not None:
                also(conn, request_id)  # what belongs with the request, in its transaction
        return self.get(request_id)

    def get(self, request_id: str) -> Request:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(requests).where(requests.c.id == request_id)).one_or_none()
        if row is None:
            raise TransitionRefused("no such request")
        return _request(row)

    def move(
        self,
        request_id: str,
        target: State,
        *,
        actor: str,
        at: dt.datetime,
        reason: DenialReason | None = None,
        note: str = "",
        method: str | None = None,
        data_points: int = 0,
        also: Callable[[sa.Connection], None] | None = None,
    ) -> Transition | None:
        """Move a request and audit the move; ``None`` when it already is in ``target``.

        ``method`` is how the person is being or was verified (``email_code``,
        ``data_points``, ``phone``...), which the audit trail records for moves
        into ``awaiting_verification`` and ``verified``; ``data_points`` is how
        many matched. Skipping verification needs no method: staff or an
        opt-out is the method. ``also`` runs in the move's transaction, so
        what it writes (the message that tells the person) commits with the
        move or not at all.
        """
        current = self.get(request_id)
        if current.state is target:
            return None
        step = move(
            current.state, target, kind=current.kind, at=at, actor=actor, reason=reason, note=note
        )
        # Built before the transaction: a malformed event fails the move up front.
        event = _event_for(request_id, step, current.kind, method, data_points)
        values: dict[str, object] = {"state": target.value, "version": current.version + 1}
        if target in FINAL:
            values |= {"responded_at": _utc(at), "response": target.value}
            values["denial_reason"] = reason.value if reason else None
        with self.audit.transaction() as conn:
            _compare_and_set(conn, current, values)
            conn.execute(
                transitions.insert(),
                {
                    "request_id": request_id,
                    "source": step.source.value,
                    "target": step.target.value,
                    "at": _utc(step.at),
                    "actor": step.actor,
                    "reason": step.reason.value if step.reason else None,
                    "note": step.note,
                },
            )
            self.audit.append_in(conn, event, at=at)
            if also is not None:
                also(conn)
        return step

    def extend(
        self,
        request_id: str,
        *,
        actor: str,
        at: dt.datetime,
        reason: str,
        rules: DeadlineRules,
        tz: dt.tzinfo,
        also: Callable[[sa.Connection, Request], None] | None = None,
    ) -> Request:
        """Take the one extension the law allows; the request with its new ``respond_by``.

        ``rules`` and ``tz`` must be those the request was opened under: they
        give the first period, within which the person must be told (CCPA
        § 7021(b), GDPR Art. 12(3)), and the extended deadline. ``reason`` is
        what the person is told, recorded in the audit trail: choose it from a
        fixed list, never free text about the person. Refused after the first
        period, a second time, for a closed request, or where the rules allow
        no extension for this kind of request.
        """
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        current = self.get(request_id)
        if current.state in FINAL:
            raise TransitionRefused(f"a {current.state.value} request cannot be extended")
        if not rules.allows_extension(current.kind):
            raise TransitionRefused(
                f"{rules.name} allows no extension for {current.kind.value} requests"
            )
        deadlines = due(current.received_at, current.kind, rules, tz=tz, extended=True)
        if deadlines.extension_notice_by is None or deadlines.extended_respond_by is None:
            raise TransitionRefused(f"{rules.name} allows no extension")  # allows_extension lied
        if at > deadlines.extension_notice_by:
            raise TransitionRefused(
                "an extension must be noticed within the first period, which ended "
                f"{deadlines.extension_notice_by.isoformat()}"
            )
        # Read after `current`: an extension committed since bumped the
        # version, so the compare-and-set below catches what this read misses.
        taken = any(
            e.action == DeadlineExtended.action for e in self.audit.entries(subject_ref=request_id)
        )
        if taken:
            raise TransitionRefused("the deadline was already extended; only one extension")
        new_due = deadlines.extended_respond_by
        event = DeadlineExtended(
            actor=actor, subject_ref=request_id, reason=reason, new_due=new_due.date()
        )
        values = {"respond_by": _utc(new_due), "version": current.version + 1}
        with self.audit.transaction() as conn:
            _compare_and_set(conn, current, values)
            self.audit.append_in(conn, event, at=at)
            if also is not None:
                also(conn, _replace_due(current, new_due))
        return self.get(request_id)

    def history(self, request_id: str) -> list[Transition]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(transitions)
                .where(transitions.c.request_id == request_id)
                .order_by(transitions.c.id)
            ).all()
        return [
            Transition(
                State(r.source),
                State(r.target),
                _aware(r.at),
                r.actor,
                DenialReason(r.reason) if r.reason else None,
                r.note,
            )
            for r in rows
        ]

    def due(self, *, before: dt.datetime) -> list[Request]:
        """Open requests whose response is due before ``before``, soonest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(requests)
                .where(
                    requests.c.state.not_in([s.value for s in FINAL]),
                    requests.c.respond_by.is_not(None),
                    requests.c.respond_by < before,
                )
                .order_by(requests.c.respond_by)
            ).all()
        return [_request(r) for r in rows]

    def records(self, *, since: dt.datetime) -> Iterator[Record]:
        """The §7101 records of requests received since ``since``, streamed."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(
                sa.select(requests)
                .where(requests.c.received_at >= since)
                .order_by(requests.c.received_at)
            )
            for r in result:
                yield Record(
                    _aware(r.received_at),
                    r.kind,
                    r.channel,
                    _aware(r.responded_at) if r.responded_at else None,
                    r.response,
                    r.denial_reason,
                )


def _compare_and_set(conn: sa.Connection, current: Request, values: dict[str, object]) -> None:
    """Write ``values`` only if nobody moved the request since ``current`` was read."""
    done = conn.execute(
        requests.update()
        .where(requests.c.id == current.id, requests.c.version == current.version)
        .values(values)
    ).rowcount
    if done != 1:
        raise TransitionRefused("the request changed meanwhile; read it again and retry")


def _event_for(
    request_id: str, step: Transition, kind: Kind, method: str | None, data_points: int
) -> AuditEvent:
    """The audit event that records ``step``: one per target state."""
    who = {"actor": step.actor, "subject_ref": request_id}
    target, source = step.target, step.source
    if target is State.AWAITING_VERIFICATION:
        if method is None:
            raise TransitionRefused("say which verification method was sent: the audit needs it")
        return VerificationSent(**who, method=method)
    if target is State.VERIFIED and source is State.IN_PROGRESS:
        return FulfillmentRequeued(**who)
    if target is State.VERIFIED:
        if method is None and source is State.RECEIVED:
            # The lifecycle allows this skip only for opt-outs and for staff.
            method = "not_required" if not kind.needs_verification else "staff"
        if method is None:
            raise TransitionRefused("say how the requester was verified: the audit needs it")
        return VerificationPassed(**who, method=method, data_points=data_points)
    if target is State.IN_PROGRESS:
        # Staff moving a request into fulfillment is their approval.
        if step.actor.startswith("staff:"):
            return RequestApproved(**who)
        return FulfillmentStarted(**who)
    if target is State.COMPLETED:
        return RequestCompleted(**who)
    if target is State.DENIED:
        assert step.reason is not None  # lifecycle.move refuses a denial without one
        return RequestDenied(**who, reason=step.reason.value)
    return RequestCancelled(**who)


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite and MariaDB keep the wall-clock time and drop the zone, and reads
    # take a naive time as UTC: so every time is written in UTC.
    return moment.astimezone(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _request(r: sa.Row[tuple[object, ...]]) -> Request:
    m = r._mapping
    return Request(
        id=m["id"],
        kind=Kind(m["kind"]),
        channel=Channel(m["channel"]),
        state=State(m["state"]),
        jurisdiction=m["jurisdiction"],
        subject_ref=m["subject_ref"],
        received_at=_aware(m["received_at"]),
        respond_by=_aware(m["respond_by"]) if m["respond_by"] else None,
        responded_at=_aware(m["responded_at"]) if m["responded_at"] else None,
        response=m["response"],
        denial_reason=DenialReason(m["denial_reason"]) if m["denial_reason"] else None,
        version=m["version"],
    )


def _replace_due(request: Request, respond_by: dt.datetime) -> Request:
    return replace(request, respond_by=respond_by, version=request.version + 1)
