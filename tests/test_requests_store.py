"""Requests in Covenant's own database: lifecycle rules, durable audited moves, extensions,
§7101 records, migrations."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st

import covenant.audit.store
import covenant.requests.tables  # noqa: F401
from covenant.audit import AuditLog
from covenant.audit.events import AuditEvent
from covenant.db import connect, metadata
from covenant.migrations import upgrade
from covenant.requests.deadlines import CCPA, GDPR, due
from covenant.requests.lifecycle import (
    ALLOWED,
    FINAL,
    Channel,
    DenialReason,
    Kind,
    State,
    TransitionRefused,
    move,
)
from covenant.requests.store import RequestStore
from covenant.requests.tables import requests

T0 = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def store(db_url: str) -> Iterator[RequestStore]:
    url = sa.make_url(db_url)
    upgrade(url)
    engine = connect(url)
    yield RequestStore(engine, audit=AuditLog(engine))
    engine.dispose()


def trail(store: RequestStore, request_id: str) -> list[str]:
    """The actions the audit trail holds for one request, in order."""
    return [e.action for e in store.audit.entries(subject_ref=request_id)]


def run_to_completion(store: RequestStore, rid: str) -> None:
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email_code")
    store.move(
        rid,
        State.VERIFIED,
        actor="consumer",
        at=T0 + dt.timedelta(hours=1),
        method="email_code",
        data_points=2,
    )
    store.move(rid, State.IN_PROGRESS, actor="staff:7", at=T0 + dt.timedelta(hours=2))
    store.move(rid, State.COMPLETED, actor="system", at=T0 + dt.timedelta(hours=3))


def open_one(store: RequestStore, kind: Kind = Kind.DELETE) -> str:
    request = store.open(
        kind=kind,
        channel=Channel.WEB,
        jurisdiction="us-ca",
        subject_ref="ref-1",
        received_at=T0,
        respond_by=T0 + dt.timedelta(days=45),
    )
    return request.id


def test_migrations_produce_exactly_the_models(db_url: str) -> None:
    url = sa.make_url(db_url)
    upgrade(url)
    upgrade(url)  # running it again changes nothing
    engine = connect(url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    engine.dispose()
    assert diff == []


def test_a_request_moves_to_completion_with_every_move_recorded(store: RequestStore) -> None:
    rid = open_one(store)
    run_to_completion(store, rid)
    done = store.get(rid)
    assert done.state is State.COMPLETED
    assert done.responded_at == T0 + dt.timedelta(hours=3)
    assert [t.target for t in store.history(rid)] == [
        State.AWAITING_VERIFICATION,
        State.VERIFIED,
        State.IN_PROGRESS,
        State.COMPLETED,
    ]
    (record,) = store.records(since=T0 - dt.timedelta(days=1))
    assert (record.nature, record.manner, record.response) == ("delete", "web", "completed")
    assert record.request_date == T0


def test_every_move_is_in_the_audit_trail_and_the_chain_verifies(store: RequestStore) -> None:
    rid = open_one(store)
    run_to_completion(store, rid)
    assert trail(store, rid) == [
        "request.received",
        "verification.sent",
        "verification.passed",
        "request.approved",
        "request.completed",
    ]
    entries = list(store.audit.entries(subject_ref=rid))
    passed = entries[2].event()
    assert (passed.actor, passed.body()) == ("consumer", {"method": "email_code", "data_points": 2})
    # The log names the request, never the person the request is about.
    assert all(e.subject_ref == rid for e in store.audit.entries())
    assert all("ref-1" not in e.body for e in store.audit.entries())
    other = open_one(store, Kind.OPT_OUT_SALE)
    store.move(other, State.VERIFIED, actor="consumer", at=T0)
    store.move(other, State.IN_PROGRESS, actor="system", at=T0)
    store.move(other, State.VERIFIED, actor="system", at=T0)  # a failed job goes back
    store.move(other, State.CANCELLED, actor="consumer", at=T0)
    denied = open_one(store)
    store.move(denied, State.DENIED, actor="staff:7", at=T0, reason=DenialReason.TOO_MANY)
    assert trail(store, other) == [
        "request.received",
        "verification.passed",
        "request.fulfillment_started",
        "request.fulfillment_requeued",
        "request.cancelled",
    ]
    skipped = list(store.audit.entries(subject_ref=other))[1]
    assert skipped.body == '{"data_points":0,"method":"not_required"}'  # opt-outs need none
    assert [e.event().body() for e in store.audit.entries(subject_ref=denied)][-1] == {
        "reason": "too_many"
    }
    result = store.audit.verify()
    assert result.ok, result
    assert result.checked == 5 + 5 + 2


def _failing_append(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the audit append write its entry and then fail, as a dropped connection would."""
    real = AuditLog.append_in

    def append_then_fail(
        self: AuditLog, conn: sa.Connection, event: AuditEvent, *, at: dt.datetime
    ) -> object:
        real(self, conn, event, at=at)
        raise RuntimeError("the audit append failed")

    monkeypatch.setattr(AuditLog, "append_in", append_then_fail)


def test_a_failed_audit_append_leaves_the_request_unmoved(
    store: RequestStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = open_one(store)
    before = store.get(rid)
    with monkeypatch.context() as m:
        _failing_append(m)
        with pytest.raises(RuntimeError, match="audit append failed"):
            store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email")
        with pytest.raises(RuntimeError, match="audit append failed"):
            open_one(store)
    assert store.get(rid) == before
    assert store.history(rid) == []
    assert trail(store, rid) == ["request.received"]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar() == 1
    # Nothing half-written is left behind: the same move now succeeds and the chain holds.
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email")
    assert trail(store, rid) == ["request.received", "verification.sent"]
    assert store.audit.verify().ok


def test_a_move_the_audit_cannot_describe_is_refused_before_writing(store: RequestStore) -> None:
    rid = open_one(store)
    with pytest.raises(TransitionRefused, match="verification method"):
        store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0)
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email")
    with pytest.raises(TransitionRefused, match="how the requester was verified"):
        store.move(rid, State.VERIFIED, actor="consumer", at=T0)
    assert store.get(rid).state is State.AWAITING_VERIFICATION
    assert trail(store, rid) == ["request.received", "verification.sent"]


def test_the_audit_log_must_share_the_store_engine(db_url: str) -> None:
    first, second = sa.create_engine(db_url), sa.create_engine(db_url)
    with pytest.raises(ValueError, match="must use the request store"):
        RequestStore(first, audit=AuditLog(second))
    first.dispose()
    second.dispose()


def test_a_retried_move_is_a_no_op(store: RequestStore) -> None:
    rid = open_one(store)
    step = store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email")
    assert step is not None
    again = store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email")
    assert again is None
    assert len(store.history(rid)) == 1
    assert trail(store, rid) == ["request.received", "verification.sent"]


def test_a_denial_keeps_its_basis(store: RequestStore) -> None:
    rid = open_one(store)
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email")
    with pytest.raises(TransitionRefused, match="needs its reason"):
        store.move(rid, State.DENIED, actor="staff:7", at=T0)
    store.move(rid, State.DENIED, actor="staff:7", at=T0, reason=DenialReason.UNVERIFIED)
    (record,) = store.records(since=T0)
    assert record.denial_basis == "unverified"
    with pytest.raises(TransitionRefused, match="cannot become"):
        store.move(rid, State.IN_PROGRESS, actor="system", at=T0)


def test_two_workers_moving_one_request_cannot_both_win(store: RequestStore) -> None:
    rid = open_one(store)
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email")
    store.move(rid, State.VERIFIED, actor="consumer", at=T0, method="email")
    results: list[str] = []

    def claim() -> None:
        try:
            step = store.move(rid, State.IN_PROGRESS, actor="system", at=T0)
            results.append("won" if step is not None else "already")
        except TransitionRefused:
            results.append("lost")

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([t for t in store.history(rid) if t.target is State.IN_PROGRESS]) == 1
    assert results.count("won") == 1
    # The losers' audit entries rolled back with their moves.
    assert trail(store, rid).count("request.fulfillment_started") == 1
    assert store.audit.verify().ok


def test_due_lists_open_requests_soonest_first(store: RequestStore) -> None:
    late = store.open(
        kind=Kind.ACCESS,
        channel=Channel.EMAIL,
        jurisdiction="eu",
        subject_ref="a",
        received_at=T0,
        respond_by=T0 + dt.timedelta(days=10),
    )
    soon = store.open(
        kind=Kind.ACCESS,
        channel=Channel.PHONE,
        jurisdiction="eu",
        subject_ref="b",
        received_at=T0,
        respond_by=T0 + dt.timedelta(days=2),
    )
    closed = open_one(store)
    store.move(closed, State.CANCELLED, actor="consumer", at=T0)
    due = store.due(before=T0 + dt.timedelta(days=60))
    assert [r.id for r in due] == [soon.id, late.id]


@given(st.sampled_from(list(State)), st.sampled_from(list(State)), st.sampled_from(list(Kind)))
def test_only_allowed_moves_pass_and_final_states_are_final(
    current: State, target: State, kind: Kind
) -> None:
    reason = DenialReason.UNVERIFIED if target is State.DENIED else None
    try:
        step = move(current, target, kind=kind, at=T0, actor="staff:1", reason=reason)
    except TransitionRefused:
        assert target not in ALLOWED[current]
        return
    assert target in ALLOWED[current]
    assert current not in FINAL
    assert step.source is current


def test_only_staff_may_skip_verification() -> None:
    with pytest.raises(TransitionRefused, match="only staff"):
        move(State.RECEIVED, State.VERIFIED, kind=Kind.DELETE, at=T0, actor="consumer")
    # Opt-outs need no verification at all.
    assert move(State.RECEIVED, State.VERIFIED, kind=Kind.OPT_OUT_SALE, at=T0, actor="consumer")


# -- deadlines and the one extension ------------------------------------------


def open_ccpa(store: RequestStore, kind: Kind = Kind.DELETE) -> str:
    return store.open(
        kind=kind,
        channel=Channel.WEB,
        jurisdiction="us-ca",
        subject_ref="ref-2",
        received_at=T0,
        rules=CCPA,
        tz=LA,
    ).id


def local_day(moment: dt.datetime | None) -> dt.date:
    # MariaDB's DATETIME keeps whole seconds, so compare the deadline's day in the store's zone.
    assert moment is not None
    return moment.astimezone(LA).date()


def test_open_computes_respond_by_from_the_rules(store: RequestStore) -> None:
    # Received 20 November 2026 (01:30 in California); 45 calendar days later.
    assert local_day(store.get(open_ccpa(store)).respond_by) == dt.date(2027, 1, 4)
    with pytest.raises(ValueError, match="not both"):
        store.open(
            kind=Kind.DELETE,
            channel=Channel.WEB,
            jurisdiction="us-ca",
            subject_ref="x",
            received_at=T0,
            respond_by=T0,
            rules=CCPA,
            tz=LA,
        )
    with pytest.raises(ValueError, match="tz"):
        store.open(
            kind=Kind.DELETE,
            channel=Channel.WEB,
            jurisdiction="us-ca",
            subject_ref="x",
            received_at=T0,
            rules=CCPA,
        )


def test_extend_once_inside_the_first_period(store: RequestStore) -> None:
    rid = open_ccpa(store)
    extended = store.extend(
        rid, actor="staff:7", at=T0 + dt.timedelta(days=10), reason="complex", rules=CCPA, tz=LA
    )
    assert local_day(extended.respond_by) == dt.date(2027, 2, 18)  # 90 days from receipt
    assert extended.version == 1
    with pytest.raises(TransitionRefused, match="already extended"):
        store.extend(
            rid, actor="staff:7", at=T0 + dt.timedelta(days=11), reason="again", rules=CCPA, tz=LA
        )
    assert local_day(store.get(rid).respond_by) == dt.date(2027, 2, 18)
    (entry,) = [e for e in store.audit.entries(subject_ref=rid) if e.seq > 1]
    assert entry.event().body() == {"reason": "complex", "new_due": dt.date(2027, 2, 18)}
    assert store.audit.verify().ok
    # The extended deadline is what the queue sorts by.
    assert [r.id for r in store.due(before=T0 + dt.timedelta(days=100))] == [rid]
    assert store.due(before=T0 + dt.timedelta(days=60)) == []


def test_no_extension_after_the_first_period(store: RequestStore) -> None:
    rid = open_ccpa(store)
    notice_by = due(T0, Kind.DELETE, CCPA, tz=LA).extension_notice_by
    assert notice_by is not None
    with pytest.raises(TransitionRefused, match="within the first period"):
        store.extend(
            rid,
            actor="staff:7",
            at=notice_by + dt.timedelta(microseconds=1),
            reason="late",
            rules=CCPA,
            tz=LA,
        )
    assert local_day(store.get(rid).respond_by) == dt.date(2027, 1, 4)
    assert trail(store, rid) == ["request.received"]
    # The last instant of the first period still counts.
    store.extend(rid, actor="staff:7", at=notice_by, reason="complex", rules=CCPA, tz=LA)
    assert trail(store, rid) == ["request.received", "request.deadline_extended"]


def test_extension_is_refused_where_the_law_allows_none_or_the_request_is_closed(
    store: RequestStore,
) -> None:
    opt_out = open_ccpa(store, Kind.OPT_OUT_SALE)
    with pytest.raises(TransitionRefused, match="no extension"):
        store.extend(opt_out, actor="staff:7", at=T0, reason="complex", rules=CCPA, tz=LA)
    closed = open_ccpa(store)
    store.move(closed, State.CANCELLED, actor="consumer", at=T0)
    with pytest.raises(TransitionRefused, match="cancelled request"):
        store.extend(closed, actor="staff:7", at=T0, reason="complex", rules=CCPA, tz=LA)
    assert trail(store, opt_out) == ["request.received"]


def test_gdpr_extension_adds_two_months(store: RequestStore) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    received = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    request = store.open(
        kind=Kind.ACCESS,
        channel=Channel.EMAIL,
        jurisdiction="eu",
        subject_ref="ref-3",
        received_at=received,
        rules=GDPR,
        tz=berlin,
    )
    assert request.respond_by is not None
    # 28 February 2026 is a Saturday: the period ends on Monday 2 March.
    assert request.respond_by.astimezone(berlin).date() == dt.date(2026, 3, 2)
    later = store.extend(
        request.id, actor="staff:7", at=received, reason="complex", rules=GDPR, tz=berlin
    )
    assert later.respond_by is not None
    assert later.respond_by.astimezone(berlin).date() == dt.date(2026, 4, 30)


def test_concurrent_extensions_take_effect_once(store: RequestStore) -> None:
    rid = open_ccpa(store)
    outcomes: list[str] = []

    def extend() -> None:
        try:
            store.extend(rid, actor="staff:7", at=T0, reason="complex", rules=CCPA, tz=LA)
            outcomes.append("extended")
        except TransitionRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=extend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["extended", "refused", "refused", "refused"]
    assert trail(store, rid).count("request.deadline_extended") == 1
    assert store.get(rid).version == 1
    assert store.audit.verify().ok
