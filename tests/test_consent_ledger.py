"""The consent ledger on each real backend: migrations, append-only records, links, bulk filter, receipts."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covenant.consent import (
    Choice,
    ConsentEngine,
    ConsentError,
    ConsentLedger,
    ConsentRefused,
    Method,
    Signals,
    Submission,
    Topic,
)
from covenant.consent.batch import BatchedReader
from covenant.consent.decisions import Decision, decide
from covenant.consent.ledger import autocommit_reader, consent_records
from covenant.consent.records import Draft, Kind
from covenant.db import connect, metadata
from covenant.declaration import load
from covenant.jobs.queue import conninfo
from covenant.migrations import upgrade

AUDIO = load(Path(__file__).parent.parent / "examples" / "audio-store" / "covenant.yml")
MARKETING = Topic("purpose", "marketing")
ADVERTISING = Topic("purpose", "advertising")
ANALYTICS = Topic("category", "analytics")
AD_TRACKERS = Topic("category", "advertising")
DEVICE = "dev-0123456789abcdef"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[ConsentEngine]:
    url = sa.make_url(db_url)
    upgrade(url)
    ledger = ConsentLedger(connect(url), chunk_size=50, reader=autocommit_reader(url))
    yield ConsentEngine(ledger, AUDIO.declaration)
    ledger.dispose()


def submit(
    engine: ConsentEngine,
    *choices: tuple[Topic, Choice],
    subject: str | None = "s-1",
    device: str | None = None,
    method: Method = Method.FORM,
    where: str = "eu",
    signals: Signals | None = None,
) -> list[int]:
    written = engine.record(
        Submission(
            choices=list(choices),
            method=method,
            notice_version="2026-01-15",
            subject_ref=subject,
            consent_id=device,
            jurisdiction=where,
            evidence={"page": "/account/preferences"},
        ),
        signals=signals or Signals(),
    )
    return [r.seq for r in written]


def test_migrations_produce_exactly_the_models(db_url: str) -> None:
    url = sa.make_url(db_url)
    upgrade(url)
    upgrade(url)  # running it again changes nothing
    db = connect(url)
    with db.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
        assert "consent_records" in sa.inspect(conn).get_table_names()
    db.dispose()
    assert diff == []


def test_a_newer_withdrawal_beats_an_older_grant(engine: ConsentEngine) -> None:
    submit(engine, (MARKETING, Choice.GRANTED))
    assert engine.may_email("s-1").allowed
    (seq,) = submit(engine, (MARKETING, Choice.WITHDRAWN))
    answer = engine.may_email("s-1")
    assert (answer.allowed, answer.basis, answer.record) == (False, "withdrawn", seq)


def test_records_are_never_changed_only_added(engine: ConsentEngine) -> None:
    submit(engine, (MARKETING, Choice.GRANTED))
    submit(engine, (MARKETING, Choice.DENIED))
    submit(engine, (MARKETING, Choice.GRANTED))
    history = engine.ledger.subject_history("s-1")
    assert [r.choice for r in history] == [Choice.GRANTED, Choice.DENIED, Choice.GRANTED]
    assert all(r.at.tzinfo is not None and r.at.utcoffset() == dt.timedelta(0) for r in history)
    assert not hasattr(engine.ledger, "update")
    assert not hasattr(engine.ledger, "delete")


def test_times_come_back_exactly_as_written_on_every_backend(engine: ConsentEngine) -> None:
    at = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    draft = Draft(
        kind=Kind.CHOICE,
        method=Method.STAFF,
        jurisdiction="us-ca",
        subject_ref="s-time",
        topic=ANALYTICS,
        choice=Choice.GRANTED,
        notice_version="v1",
    )
    (written,) = engine.ledger.append([draft], at=at)
    (read,) = engine.ledger.subject_history("s-time")
    assert read == written
    assert read.at == at


def test_a_batch_is_numbered_in_the_order_given(engine: ConsentEngine) -> None:
    drafts = [
        Draft(
            kind=Kind.CHOICE,
            method=Method.API,
            jurisdiction="eu",
            subject_ref=f"s-order-{i}",
            topic=ANALYTICS,
            choice=Choice.GRANTED if i % 2 else Choice.DENIED,
            notice_version=f"v{i}",
        )
        for i in range(25)
    ]
    written = engine.ledger.append(drafts, at=T0)
    assert [r.draft for r in written] == drafts
    seqs = [r.seq for r in written]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 25
    read = {r.seq: r for r in engine.ledger.records()}
    assert [read[seq] for seq in seqs] == written
    assert engine.ledger.append([]) == []


def test_a_batch_is_written_whole_or_not_at_all(engine: ConsentEngine) -> None:
    good = Draft(kind=Kind.MINOR, method=Method.API, jurisdiction="eu", subject_ref="s-batch")
    nobody = Draft(kind=Kind.MINOR, method=Method.API, jurisdiction="eu", subject_ref="s-batch")
    # Past the Python checks, so the database's own CHECK constraint must refuse it.
    object.__setattr__(nobody, "subject_ref", None)
    with pytest.raises(sa.exc.DBAPIError):  # MariaDB reports a CHECK failure as operational
        engine.ledger.append([good, nobody])
    assert engine.ledger.subject_history("s-batch") == []


def test_unknown_purposes_are_refused_and_nothing_is_written(engine: ConsentEngine) -> None:
    with pytest.raises(ConsentError, match="not a declared purpose"):
        submit(engine, (MARKETING, Choice.GRANTED), (Topic("purpose", "nope"), Choice.GRANTED))
    assert engine.ledger.subject_history("s-1") == []


def test_unicode_references_and_evidence_survive_every_backend(engine: ConsentEngine) -> None:
    ref = "zoë-名前-👩\u200d💻"
    engine.record(
        Submission(
            choices=[(ANALYTICS, Choice.GRANTED)],
            method=Method.BANNER,
            notice_version="v1 (été) 版",
            subject_ref=ref,
            evidence={"button": "Accepter ✓"},
        )
    )
    (read,) = engine.ledger.subject_history(ref)
    assert read.draft.subject_ref == ref
    assert json.loads(read.draft.evidence) == {"button": "Accepter ✓"}
    assert read.draft.notice_version == "v1 (été) 版"


def test_a_device_linked_at_sign_in_brings_its_choices_to_the_person(engine: ConsentEngine) -> None:
    submit(engine, (ANALYTICS, Choice.GRANTED), subject=None, device=DEVICE, method=Method.BANNER)
    assert not engine.may_use(ANALYTICS, subject_ref="s-1", jurisdiction="eu").allowed
    link = engine.link(subject_ref="s-1", consent_id=DEVICE, method=Method.SIGN_IN)
    assert link.kind is Kind.LINK
    assert engine.may_use(ANALYTICS, subject_ref="s-1", jurisdiction="eu").allowed
    # The person's own later choice reaches the device too.
    submit(engine, (ANALYTICS, Choice.WITHDRAWN))
    assert not engine.may_use(ANALYTICS, consent_id=DEVICE, jurisdiction="eu").allowed


def test_on_a_shared_device_one_persons_choices_stay_theirs(engine: ConsentEngine) -> None:
    engine.link(subject_ref="s-1", consent_id=DEVICE, method=Method.SIGN_IN)
    engine.link(subject_ref="s-2", consent_id=DEVICE, method=Method.SIGN_IN)
    submit(engine, (MARKETING, Choice.GRANTED), subject="s-2", device=DEVICE)
    assert engine.may_email("s-2").allowed
    assert not engine.may_email("s-1").allowed


def test_gpc_is_recorded_as_an_opt_out_that_outlives_the_request(engine: ConsentEngine) -> None:
    """CCPA regulations §7025(c)(1), (c)(3): the signal wins a grant sent with it."""
    submit(
        engine,
        (AD_TRACKERS, Choice.GRANTED),
        subject=None,
        device=DEVICE,
        where="us-ca",
        method=Method.BANNER,
        signals=Signals(gpc=True),
    )
    history = engine.ledger.device_history(DEVICE)
    gpc = [r for r in history if r.draft.method is Method.GPC]
    assert {r.topic for r in gpc} == {ADVERTISING, AD_TRACKERS}
    assert all(r.choice is Choice.DENIED for r in gpc)
    assert all(json.loads(r.draft.evidence)["gpc"] is True for r in gpc)
    # Later requests without the header still find the opt-out.
    answer = engine.may_use(AD_TRACKERS, consent_id=DEVICE, jurisdiction="us-ca")
    assert (answer.allowed, answer.basis) == (False, "denied")
    # The header on every request does not write again once the opt-out stands.
    assert (
        submit(engine, subject=None, device=DEVICE, where="us-ca", signals=Signals(gpc=True)) == []
    )


def test_method_gpc_needs_the_header(engine: ConsentEngine) -> None:
    with pytest.raises(ConsentError, match="Sec-GPC"):
        submit(engine, (AD_TRACKERS, Choice.DENIED), method=Method.GPC)


def test_no_marketing_consent_is_taken_from_a_known_minor(engine: ConsentEngine) -> None:
    """Seeds P12, H2: the declaration's minimum age is 16."""
    engine.mark_minor(subject_ref="s-1", method=Method.SIGN_UP, proof={"gate": "age_question"})
    with pytest.raises(ConsentRefused, match="16"):
        submit(engine, (MARKETING, Choice.GRANTED))
    assert submit(engine, (MARKETING, Choice.DENIED))  # a refusal is always kept
    assert engine.may_email("s-1").basis == "known_minor"


def test_the_bulk_filter_streams_in_input_order_without_a_query_per_person(
    engine: ConsentEngine,
) -> None:
    refs = [f"h{i:04d}" for i in range(230)]
    for i, ref in enumerate(refs):
        if i % 3 == 0:
            submit(engine, (MARKETING, Choice.GRANTED), subject=ref)
        if i % 9 == 0:
            submit(engine, (MARKETING, Choice.WITHDRAWN), subject=ref)
    engine.mark_minor(subject_ref="h0003", method=Method.STAFF)
    expected = [r for i, r in enumerate(refs) if i % 3 == 0 and i % 9 != 0 and r != "h0003"]

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    databases = {engine.ledger.engine, engine.ledger.reader}
    for db in databases:
        sa.event.listen(db, "before_cursor_execute", count)
    try:
        out = engine.marketable(iter([*refs, "never-seen"]), jurisdiction="us")
        assert next(out) == expected[0]  # streamed: the first answer before the input ends
        rest = list(out)
    finally:
        for db in databases:
            sa.event.remove(db, "before_cursor_execute", count)
    assert [expected[0], *rest] == expected
    chunks = -(-231 // engine.ledger.chunk_size)
    assert len(statements) == chunks  # one statement per chunk, whatever the chunk holds


def test_the_receipt_uses_kantara_v1_1_field_names(engine: ConsentEngine) -> None:
    submit(engine, (MARKETING, Choice.GRANTED), (ANALYTICS, Choice.GRANTED))
    submit(engine, (ANALYTICS, Choice.WITHDRAWN))
    found = engine.receipt("s-1")
    assert found is not None
    for name in (
        "version",
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "language",
        "piiPrincipalId",
        "piiControllers",
        "policyUrl",
        "services",
        "sensitive",
        "spiCat",
    ):
        assert name in found, name
    assert found["version"] == "KI-CR-v1.1.0"
    assert found["piiPrincipalId"] == "s-1"
    assert isinstance(found["consentTimestamp"], int)
    (controller,) = found["piiControllers"]  # type: ignore[misc]
    assert controller["piiController"] == "Resonance Audio, Inc."
    (service,) = found["services"]  # type: ignore[misc]
    assert [p["purpose"] for p in service["purposes"]] == ["Offers by e-mail"]
    state = {c["topic"]: c["choice"] for c in found["x-covenant-choices"]}  # type: ignore[attr-defined]
    assert state == {"purpose:marketing": "granted", "category:analytics": "withdrawn"}
    assert engine.receipt("s-1") == found  # same history, same receipt ID
    submit(engine, (ANALYTICS, Choice.GRANTED))
    again = engine.receipt("s-1")
    assert again is not None
    assert again["consentReceiptID"] != found["consentReceiptID"]
    assert engine.receipt("nobody") is None


def test_every_record_can_be_read_back_in_write_order(engine: ConsentEngine) -> None:
    for i in range(7):
        submit(engine, (ANALYTICS, Choice.GRANTED if i % 2 else Choice.DENIED), subject=f"s-{i}")
    seqs = [r.seq for r in engine.ledger.records(limit=3)]
    assert seqs == sorted(seqs)
    assert len(seqs) == 7
    with engine.ledger.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(consent_records)) == 7


# The fast reads against the whole history, on random ledgers.

PEOPLE = ["p0", "p1", "p2"]
DEVICES = ["dev-aaaaaaaa", "dev-bbbbbbbb", "dev-cccccccc"]
QUESTION_TOPICS = [MARKETING, ADVERTISING, ANALYTICS, AD_TRACKERS, Topic("purpose", "orders")]
parties = st.tuples(st.sampled_from([None, *PEOPLE]), st.sampled_from([None, *DEVICES])).filter(
    lambda p: p != (None, None)
)


@st.composite
def ledgers(draw: st.DrawFn) -> list[tuple[int, Draft]]:
    """Up to 14 records at a few distinct times (so ties fall back on write order)."""
    items: list[tuple[int, Draft]] = []
    for _ in range(draw(st.integers(0, 14))):
        minute = draw(st.integers(0, 3))
        kind = draw(st.sampled_from([Kind.CHOICE, Kind.CHOICE, Kind.CHOICE, Kind.LINK, Kind.MINOR]))
        if kind is Kind.LINK:
            subject, device = draw(st.sampled_from(PEOPLE)), draw(st.sampled_from(DEVICES))
        else:
            subject, device = draw(parties)
        choice = kind is Kind.CHOICE
        draft = Draft(
            kind=kind,
            method=Method.API,
            jurisdiction="eu",
            subject_ref=subject,
            consent_id=device,
            topic=draw(st.sampled_from(QUESTION_TOPICS[:4])) if choice else None,
            choice=draw(st.sampled_from(list(Choice))) if choice else None,
        )
        items.append((minute, draft))
    return items


def test_fast_reads_answer_exactly_as_decide_over_the_whole_history(db_url: str) -> None:
    """``may_use`` and ``marketable`` read only the newest records; ``decide`` over every
    record that bears on the party must give the same answer, reason and record."""
    url = sa.make_url(db_url)
    upgrade(url)
    ledger = ConsentLedger(connect(url), chunk_size=2, reader=autocommit_reader(url))
    engine = ConsentEngine(ledger, AUDIO.declaration)
    # PostgreSQL's service path: every question of an example asked at once, so they
    # share statements (max_batch 7 makes several batches, and several per connection).
    batched = (
        BatchedReader(conninfo(url), connections=2, max_batch=7)
        if url.get_backend_name() == "postgresql"
        else None
    )
    service = ConsentEngine(ledger, AUDIO.declaration, batched=batched)
    runs = itertools.count()

    @settings(
        max_examples=40 if url.get_backend_name() == "sqlite" else 15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(ledgers(), st.sampled_from(["eu", "us-ca"]), st.booleans())
    def check(items: list[tuple[int, Draft]], where: str, gpc: bool) -> None:
        # Each example gets its own people and devices, in the one database.
        run = next(runs)

        def mine(draft: Draft) -> Draft:
            return Draft(
                kind=draft.kind,
                method=draft.method,
                jurisdiction=draft.jurisdiction,
                subject_ref=None if draft.subject_ref is None else f"{run}-{draft.subject_ref}",
                consent_id=None if draft.consent_id is None else f"{draft.consent_id}{run}",
                topic=draft.topic,
                choice=draft.choice,
            )

        for minute, draft in items:
            ledger.append([mine(draft)], at=T0 + dt.timedelta(minutes=minute))
        signals = Signals(gpc=gpc)
        questions = []
        for person, device in itertools.product([None, *PEOPLE], [None, *DEVICES]):
            if person is None and device is None:
                continue
            subject = None if person is None else f"{run}-{person}"
            consent_id = None if device is None else f"{device}{run}"
            history = engine.history(subject, consent_id)
            for topic in QUESTION_TOPICS:
                fast = engine.may_use(
                    topic,
                    subject_ref=subject,
                    consent_id=consent_id,
                    jurisdiction=where,
                    signals=signals,
                )
                expected = decide(
                    history, topic, policy=engine.policy, jurisdiction=where, signals=signals
                )
                assert fast == expected
                questions.append((topic, subject, consent_id, expected))

        async def ask_all_at_once() -> list[Decision]:
            try:
                return await asyncio.gather(
                    *(
                        service.may_use_async(
                            topic,
                            subject_ref=subject,
                            consent_id=consent_id,
                            jurisdiction=where,
                            signals=signals,
                        )
                        for topic, subject, consent_id, _ in questions
                    )
                )
            finally:
                if batched is not None:
                    await batched.close()

        assert asyncio.run(ask_all_at_once()) == [q[-1] for q in questions]
        people = [f"{run}-{p}" for p in PEOPLE]
        expected = [
            p
            for p in people
            if decide(
                engine.history(p, None), MARKETING, policy=engine.policy, jurisdiction=where
            ).allowed
        ]
        assert list(engine.marketable(people, jurisdiction=where)) == expected

    try:
        check()
    finally:
        ledger.dispose()
