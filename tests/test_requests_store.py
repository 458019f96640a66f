"""Requests in Covenant's own database: lifecycle rules, durable moves, §7101 records, migrations."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st

import covenant.audit.store
import covenant.requests.tables  # noqa: F401
from covenant.db import connect, metadata
from covenant.migrations import upgrade
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

T0 = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[RequestStore]:
    url = sa.make_url(db_url)
    upgrade(url)
    engine = connect(url)
    yield RequestStore(engine)
    engine.dispose()


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
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0)
    store.move(rid, State.VERIFIED, actor="consumer", at=T0 + dt.timedelta(hours=1))
    store.move(rid, State.IN_PROGRESS, actor="system", at=T0 + dt.timedelta(hours=2))
    store.move(rid, State.COMPLETED, actor="system", at=T0 + dt.timedelta(hours=3))
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


def test_a_retried_move_is_a_no_op(store: RequestStore) -> None:
    rid = open_one(store)
    assert store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0) is not None
    assert store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0) is None
    assert len(store.history(rid)) == 1


def test_a_denial_keeps_its_basis(store: RequestStore) -> None:
    rid = open_one(store)
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0)
    with pytest.raises(TransitionRefused, match="needs its reason"):
        store.move(rid, State.DENIED, actor="staff:7", at=T0)
    store.move(rid, State.DENIED, actor="staff:7", at=T0, reason=DenialReason.UNVERIFIED)
    (record,) = store.records(since=T0)
    assert record.denial_basis == "unverified"
    with pytest.raises(TransitionRefused, match="cannot become"):
        store.move(rid, State.IN_PROGRESS, actor="system", at=T0)


def test_two_workers_moving_one_request_cannot_both_win(store: RequestStore) -> None:
    rid = open_one(store)
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0)
    store.move(rid, State.VERIFIED, actor="consumer", at=T0)
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
