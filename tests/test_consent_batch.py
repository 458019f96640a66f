"""PostgreSQL's batched decision reads: batching, errors, cancellation, reopening.

That the answers equal ``decide`` over the whole history is checked on random
ledgers in ``test_consent_ledger.py``; this file checks the machinery around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from covenant.consent import batch
from covenant.consent.batch import BatchedReader
from covenant.consent.ledger import ConsentLedger, autocommit_reader
from covenant.consent.records import Choice, Draft, Kind, Method, Topic
from covenant.db import connect
from covenant.jobs.queue import conninfo
from covenant.migrations import upgrade

MARKETING = Topic("purpose", "marketing")


@pytest.fixture
def ledger(fresh_db: Callable[[str], str]) -> Iterator[ConsentLedger]:
    url = sa.make_url(fresh_db("postgresql"))
    upgrade(url)
    ledger = ConsentLedger(connect(url), reader=autocommit_reader(url))
    people = [f"p{i}" for i in range(40)]
    ledger.append(
        [
            Draft(
                kind=Kind.CHOICE,
                method=Method.FORM,
                jurisdiction="eu",
                subject_ref=ref,
                topic=MARKETING,
                choice=Choice.GRANTED if i % 2 else Choice.DENIED,
            )
            for i, ref in enumerate(people)
        ]
    )
    yield ledger
    ledger.dispose()


def _reader(ledger: ConsentLedger, **kw: Any) -> BatchedReader:
    return BatchedReader(conninfo(ledger.engine.url), **kw)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    run = batch._run

    async def counted(conn: Any, questions: list[Any]) -> Any:
        sizes.append(len(questions))
        return await run(conn, questions)

    monkeypatch.setattr(batch, "_run", counted)
    return sizes


def test_concurrent_questions_share_statements_and_each_gets_its_own_answer(
    ledger: ConsentLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = _counting(monkeypatch)
    reader = _reader(ledger, connections=2, max_batch=16)

    async def ask() -> list[Any]:
        try:
            return await asyncio.gather(
                *(reader.newest(MARKETING, subject_ref=f"p{i}", consent_id=None) for i in range(40))
            )
        finally:
            await reader.close()

    answers = asyncio.run(ask())
    for i, records in enumerate(answers):
        (record,) = records
        assert record.draft.subject_ref == f"p{i}"
        assert record.choice is (Choice.GRANTED if i % 2 else Choice.DENIED)
    assert sum(sizes) == 40
    assert len(sizes) == 3  # 16 + 16 + 8: one statement per batch, not per question
    assert max(sizes) == 16


def test_one_question_at_an_idle_reader_is_not_held_back(
    ledger: ConsentLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = _counting(monkeypatch)
    reader = _reader(ledger)

    async def ask() -> None:
        try:
            for i in range(3):
                (record,) = await reader.newest(MARKETING, subject_ref=f"p{i}", consent_id=None)
                assert record.draft.subject_ref == f"p{i}"
            assert await reader.newest(MARKETING, subject_ref="nobody", consent_id=None) == []
            # Neither a person nor a device: nothing to read, no statement.
            assert await reader.newest(MARKETING, subject_ref=None, consent_id=None) == []
        finally:
            await reader.close()

    asyncio.run(ask())
    assert sizes == [1, 1, 1, 1]


def test_a_failed_read_fails_every_question_in_it_and_the_next_batch_reconnects(
    ledger: ConsentLedger,
) -> None:
    reader = _reader(ledger, connections=1)

    async def ask() -> None:
        try:
            (first,) = await reader.newest(MARKETING, subject_ref="p1", consent_id=None)
            lane = reader._lane
            assert lane is not None
            (conn,) = lane.idle
            # The server ends the session under the reader, as a restart or failover would.
            with psycopg.connect(conninfo(ledger.engine.url), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            results = await asyncio.gather(
                *(reader.newest(MARKETING, subject_ref=f"p{i}", consent_id=None) for i in range(5)),
                return_exceptions=True,
            )
            assert all(isinstance(r, psycopg.OperationalError) for r in results), results
            (again,) = await reader.newest(MARKETING, subject_ref="p1", consent_id=None)
            assert again == first
        finally:
            await reader.close()

    asyncio.run(ask())


def test_a_question_whose_asker_left_does_not_disturb_the_others(ledger: ConsentLedger) -> None:
    reader = _reader(ledger, connections=1)

    async def ask() -> None:
        try:
            gone = asyncio.ensure_future(
                reader.newest(MARKETING, subject_ref="p1", consent_id=None)
            )
            stays = asyncio.ensure_future(
                reader.newest(MARKETING, subject_ref="p2", consent_id=None)
            )
            await asyncio.sleep(0)  # both queued
            gone.cancel()
            (record,) = await stays
            assert record.draft.subject_ref == "p2"
            assert gone.cancelled()
        finally:
            await reader.close()

    asyncio.run(ask())


def test_each_event_loop_gets_its_own_connections(ledger: ConsentLedger) -> None:
    reader = _reader(ledger)

    async def ask() -> int:
        (record,) = await reader.newest(MARKETING, subject_ref="p3", consent_id=None)
        assert record.draft.subject_ref == "p3"
        lane = reader._lane
        assert lane is not None
        return lane.idle[0].info.backend_pid

    first = asyncio.run(ask())  # this loop ends without close(): its lane is let go
    second = asyncio.run(ask())
    assert first != second
    reader.hang_up()
    assert reader._lane is None


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BatchedReader("dbname=x", connections=0)
    with pytest.raises(ValueError, match="at least 1"):
        BatchedReader("dbname=x", max_batch=0)
