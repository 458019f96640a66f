"""Requests in Covenant's own database: opening them, and moving them between states.

A move is checked by :mod:`covenant.requests.lifecycle`, then written with a
compare-and-set on the request's ``version``, in the same transaction as its
row in ``request_transitions``. Two processes moving the same request cannot
both succeed, and a crash leaves either the whole move or none of it.
Moving a request to the state it is already in is a no-op, so a retried step
is safe.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

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
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def open(
        self,
        *,
        kind: Kind,
        channel: Channel,
        jurisdiction: str,
        subject_ref: str,
        received_at: dt.datetime,
        respond_by: dt.datetime | None = None,
    ) -> Request:
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        row = {
            "id": str(uuid.uuid4()),
            "kind": kind.value,
            "channel": channel.value,
            "state": State.RECEIVED.value,
            "jurisdiction": jurisdiction,
            "subject_ref": subject_ref,
            "received_at": received_at,
            "respond_by": respond_by,
            "version": 0,
        }
        with self.engine.begin() as conn:
            conn.execute(requests.insert(), row)
        return self.get(str(row["id"]))

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
    ) -> Transition | None:
        """Move a request; ``None`` when it already is in ``target`` (a retried step)."""
        current = self.get(request_id)
        if current.state is target:
            return None
        step = move(
            current.state, target, kind=current.kind, at=at, actor=actor, reason=reason, note=note
        )
        values: dict[str, object] = {"state": target.value, "version": current.version + 1}
        if target in FINAL:
            values |= {"responded_at": at, "response": target.value}
            values["denial_reason"] = reason.value if reason else None
        with self.engine.begin() as conn:
            done = conn.execute(
                requests.update()
                .where(requests.c.id == request_id, requests.c.version == current.version)
                .values(values)
            ).rowcount
            if done != 1:
                raise TransitionRefused("the request changed meanwhile; read it again and retry")
            conn.execute(
                transitions.insert(),
                {
                    "request_id": request_id,
                    "source": step.source.value,
                    "target": step.target.value,
                    "at": step.at,
                    "actor": step.actor,
                    "reason": step.reason.value if step.reason else None,
                    "note": step.note,
                },
            )
        return step

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
