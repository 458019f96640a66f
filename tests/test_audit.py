"""The audit trail: typed events, the chain format, and the log on every backend.

Tampering is done the way an attacker with database access would do it: plain
SQL on the table, behind the log's back.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from covenant.audit import (
    EVENTS,
    Anchor,
    AuditError,
    AuditLog,
    ConsentRecorded,
    DeadlineExtended,
    ErasureVerified,
    ExportDownloaded,
    InvalidEvent,
    PersonalDataInEvent,
    RequestApproved,
    RequestCompleted,
    RequestDenied,
    RequestReceived,
    StaffLogin,
    StaffLoginFailed,
    VerificationFailed,
    VerificationPassed,
    VerificationSent,
    canonical,
    key_from_env,
    metadata,
    registered,
    verify,
)
from covenant.audit.chain import GENESIS, Entry, canonical_entry, entry_hash, seal
from covenant.audit.events import AuditEvent
from covenant.audit.store import audit_entries

KEY = b"k" * 32
T0 = dt.datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)

SAMPLES: list[AuditEvent] = [
    RequestReceived(
        actor="consumer", subject_ref="req_01", kind="delete", channel="web", jurisdiction="CCPA"
    ),
    VerificationSent(actor="system", subject_ref="req_01", method="email_code"),
    VerificationFailed(actor="system", subject_ref="req_01", method="email_code", reason="expired"),
    VerificationPassed(actor="consumer", subject_ref="req_01", method="email_code", data_points=2),
    DeadlineExtended(
        actor="staff:7",
        subject_ref="req_01",
        reason="identity documents pending since 2025-03-01",
        new_due=dt.date(2025, 5, 30),
    ),
    RequestApproved(actor="staff:7", subject_ref="req_01"),
    ErasureVerified(
        actor="system",
        subject_ref="req_01",
        erased={"customers": 1, "orders": 3},
        held={"invoices": 2},
    ),
    RequestCompleted(actor="system", subject_ref="req_01"),
    RequestDenied(actor="staff:7", subject_ref="req_02", reason="could_not_verify"),
    ExportDownloaded(actor="agent", subject_ref="req_03", package_ref="pkg_9f"),
    ConsentRecorded(
        actor="consumer",
        subject_ref="consent_42",
        choices={"analytics": False, "advertising": False},
        statement_version=3,
        gpc=True,
    ),
    StaffLogin(actor="staff:7", subject_ref="staff:7"),
    StaffLoginFailed(actor="system", subject_ref="unknown", reason="bad_password"),
]


# -- events (pure) ------------------------------------------------------------


def test_every_event_class_is_sampled_and_registered() -> None:
    assert {type(e) for e in SAMPLES} == set(EVENTS.values())
    assert all(EVENTS[e.action] is type(e) for e in SAMPLES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.action)
def test_event_reads_back_typed(event: AuditEvent) -> None:
    entry = seal(event, seq=1, at=T0, prev_hash=GENESIS, key=None)
    assert entry.event() == event
    assert type(entry.event()) is type(event)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RequestDenied(actor="staff:1", subject_ref="req_1", reason="ask jane@example.com"),
        lambda: RequestDenied(actor="staff:1", subject_ref="req_1", reason="call +1 415 555 0100"),
        lambda: RequestDenied(actor="staff:1", subject_ref="req_1", reason="call (415) 555-0100"),
        lambda: ErasureVerified(actor="system", subject_ref="req_1", erased={"bob@shop.io": 1}),
        lambda: ExportDownloaded(actor="agent", subject_ref="req_1", package_ref="415.555.0100"),
    ],
)
def test_personal_data_is_refused_without_echoing_it(make: Callable[[], AuditEvent]) -> None:
    with pytest.raises(PersonalDataInEvent) as caught:
        make()
    assert "example.com" not in str(caught.value)
    assert "555" not in str(caught.value)


@pytest.mark.parametrize(
    ("actor", "subject_ref"),
    [
        ("jane@example.com", "req_1"),
        ("staff:", "req_1"),
        ("consumer", "jane@example.com"),
        ("consumer", "Jane Doe"),
        ("consumer", ""),
    ],
)
def test_actor_and_subject_must_be_opaque(actor: str, subject_ref: str) -> None:
    with pytest.raises(InvalidEvent):
        RequestApproved(actor=actor, subject_ref=subject_ref)


def test_dates_counts_and_ids_are_not_mistaken_for_phones() -> None:
    DeadlineExtended(
        actor="staff:3",
        subject_ref="req_0123456789",
        reason="extended to 2025-06-30, order 1234567890123",
        new_due=dt.date(2025, 6, 30),
    )


def test_events_are_frozen() -> None:
    event = ErasureVerified(actor="system", subject_ref="req_1", erased={"orders": 1})
    with pytest.raises(AttributeError):
        event.subject_ref = "req_2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.erased["orders"] = 0  # type: ignore[index]


def test_unknown_action_and_fields_are_reported() -> None:
    entry = seal(SAMPLES[0], seq=1, at=T0, prev_hash=GENESIS, key=None)
    with pytest.raises(AuditError, match="unknown audit action"):
        Entry(1, T0, "request.teleported", "system", "req_1", "{}", GENESIS, "").event()
    extra = json.dumps({**json.loads(entry.body), "email": "x"})
    with pytest.raises(AuditError, match="unknown fields"):
        Entry(1, T0, entry.action, entry.actor, entry.subject_ref, extra, GENESIS, "").event()


def test_a_plugin_registers_its_own_event() -> None:
    @registered("test_plugin.ping")
    @dataclass(frozen=True, kw_only=True)
    class Ping(AuditEvent):
        sent: dt.datetime
        tags: tuple[str, ...] = ()

    try:
        ping = Ping(actor="system", subject_ref="ping_1", sent=T0, tags=("a", "b"))
        assert seal(ping, seq=1, at=T0, prev_hash=GENESIS, key=None).event() == ping
        with pytest.raises(InvalidEvent, match="already registered"):
            registered("test_plugin.ping")(Ping)
        with pytest.raises(InvalidEvent, match="dotted"):
            registered("Ping")
    finally:
        del EVENTS["test_plugin.ping"]


# -- chain format (pure) ------------------------------------------------------


def test_canonical_encoding_is_stable() -> None:
    assert canonical({"b": [1, "é"], "a": dt.date(2025, 1, 2), "c": None}) == (
        '{"a":"2025-01-02","b":[1,"é"],"c":null}'.encode()
    )
    with pytest.raises(TypeError):
        canonical({"x": 1.5})
    local = dt.datetime(2025, 3, 1, 11, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert canonical(local) == b'"2025-03-01T09:30:15.123456Z"'


def test_golden_hash_for_a_fixed_event() -> None:
    """The format is a stored contract: if this changes, every existing log breaks."""
    event = DeadlineExtended(
        actor="staff:7",
        subject_ref="req_01",
        reason="awaiting documents",
        new_due=dt.date(2025, 5, 30),
    )
    entry = seal(event, seq=1, at=T0, prev_hash=GENESIS, key=None)
    assert entry.canonical() == (
        b'{"action":"request.deadline_extended","actor":"staff:7",'
        b'"at":"2025-03-01T09:30:15.123456Z",'
        b'"body":{"new_due":"2025-05-30","reason":"awaiting documents"},'
        b'"seq":1,"subject_ref":"req_01"}'
    )
    body = json.loads(entry.body)
    assert entry.canonical() == canonical(
        {
            "action": entry.action,
            "actor": entry.actor,
            "at": T0,
            "body": body,
            "seq": 1,
            "subject_ref": entry.subject_ref,
        }
    )
    assert entry.hash == GOLDEN_HASH
    assert seal(event, seq=1, at=T0, prev_hash=GENESIS, key=KEY).hash == GOLDEN_KEYED_HASH


GOLDEN_HASH = "0b7323764cfac0e93022fda8675d8b3743e4a41941dcf8df125c9a8955418f3b"
GOLDEN_KEYED_HASH = "729b40e94994184a452c00ac76ca2deb5fe7bb40b0e71fe75f28fc3c3f0797f0"


def _chain(n: int, key: bytes | None = None) -> list[Entry]:
    out: list[Entry] = []
    for i in range(n):
        prev = out[-1].hash if out else GENESIS
        event = SAMPLES[i % len(SAMPLES)]
        out.append(seal(event, seq=i + 1, at=T0 + dt.timedelta(seconds=i), prev_hash=prev, key=key))
    return out


def test_verify_pure_chain() -> None:
    chain = _chain(5)
    assert verify(chain).ok
    assert verify([]).ok
    assert verify(chain, key=KEY).broken_at == 1
    result = verify(chain[:2] + chain[3:])
    assert (result.ok, result.broken_at, result.checked) == (False, 3, 2)
    assert "entry 3 is missing" in str(result)


# -- the log on every backend -------------------------------------------------


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(db_url)
    metadata.create_all(eng)
    yield eng
    eng.dispose()


def _fill(log: AuditLog, n: int) -> list[Entry]:
    return [
        log.append(SAMPLES[i % len(SAMPLES)], at=T0 + dt.timedelta(minutes=i)) for i in range(n)
    ]


def _sql(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "keyed"])
def test_append_read_back_and_verify(engine: sa.Engine, key: bytes | None) -> None:
    log = AuditLog(engine, key=key, page_size=4)
    assert log.head() is None
    assert log.verify().ok
    written = _fill(log, len(SAMPLES))
    read = list(log.entries())
    assert read == written
    assert [e.event() for e in read] == SAMPLES
    assert log.head() == written[-1]
    result = log.verify()
    assert result.ok, result
    assert result.checked == len(SAMPLES)
    assert result.head == Anchor(written[-1].seq, written[-1].hash) == log.anchor()
    assert [e.seq for e in log.entries(since=10)] == [11, 12, 13]
    assert [e.seq for e in log.entries(subject_ref="req_01")] == list(range(1, 9))


def test_edited_body_is_found(engine: sa.Engine) -> None:
    log = AuditLog(engine)
    _fill(log, 10)
    _sql(engine, """UPDATE audit_entries SET body = '{"reason":"approved"}' WHERE seq = 9""")
    assert (log.verify().broken_at, log.verify().checked) == (9, 8)


def test_edited_fields_are_found_even_when_only_whitespace(engine: sa.Engine) -> None:
    log = AuditLog(engine)
    _fill(log, 10)
    _sql(engine, "UPDATE audit_entries SET actor = 'staff:8' WHERE seq = 6")
    assert log.verify().broken_at == 6
    _sql(engine, "UPDATE audit_entries SET actor = 'staff:7' WHERE seq = 6")
    assert log.verify().ok
    _sql(engine, "UPDATE audit_entries SET body = REPLACE(body, ':', ': ') WHERE seq = 4")
    assert log.verify().broken_at == 4


def test_deleted_middle_entry_is_found(engine: sa.Engine) -> None:
    log = AuditLog(engine)
    _fill(log, 10)
    _sql(engine, "DELETE FROM audit_entries WHERE seq = 5")
    result = log.verify()
    assert (result.broken_at, result.checked) == (5, 4)
    assert "entry 5 is missing" in (result.reason or "")


def test_swapped_entries_are_found(engine: sa.Engine) -> None:
    log = AuditLog(engine)
    _fill(log, 10)
    _sql(
        engine,
        "UPDATE audit_entries SET seq = -1 WHERE seq = 3",
        "UPDATE audit_entries SET seq = 3 WHERE seq = 4",
        "UPDATE audit_entries SET seq = 4 WHERE seq = -1",
    )
    assert log.verify().broken_at == 3


def test_forged_entry_without_the_key_is_found(engine: sa.Engine) -> None:
    log = AuditLog(engine, key=KEY)
    written = _fill(log, 5)
    # The forger can read the chain and compute SHA-256, but not the HMAC.
    forged = seal(
        RequestCompleted(actor="system", subject_ref="req_01"),
        seq=6,
        at=T0 + dt.timedelta(hours=1),
        prev_hash=written[-1].hash,
        key=None,
    )
    _insert(engine, forged)
    result = log.verify()
    assert (result.ok, result.broken_at, result.checked) == (False, 6, 5)


def test_rewritten_history_passes_unkeyed_but_not_against_an_anchor(engine: sa.Engine) -> None:
    """Without a key, recomputing every hash hides an edit; an external anchor does not."""
    log = AuditLog(engine)
    _fill(log, 6)
    anchor = log.anchor()
    assert anchor is not None
    assert Anchor.parse(str(anchor)) == anchor
    rows = list(log.entries())
    _sql(engine, "DELETE FROM audit_entries WHERE seq >= 3")
    prev = rows[1].hash
    for row in rows[2:]:
        body = row.body.replace("expired", "withdrawn")
        data = canonical_entry(
            seq=row.seq,
            at=row.at,
            action=row.action,
            actor=row.actor,
            subject_ref=row.subject_ref,
            body=body,
        )
        forged = Entry(
            row.seq,
            row.at,
            row.action,
            row.actor,
            row.subject_ref,
            body,
            prev,
            entry_hash(prev, data),
        )
        _insert(engine, forged)
        prev = forged.hash
    assert log.verify().ok
    assert log.verify(anchor=anchor).broken_at == 6


def test_truncation_is_found_against_an_anchor(engine: sa.Engine) -> None:
    log = AuditLog(engine, key=KEY)
    _fill(log, 6)
    anchor = log.anchor()
    _sql(engine, "DELETE FROM audit_entries WHERE seq > 4")
    assert log.verify().ok  # the newest entries can only be missed against an anchor
    result = log.verify(anchor=anchor)
    assert (result.ok, result.broken_at) == (False, 5)


def test_concurrent_appenders_do_not_fork_the_chain(db_url: str) -> None:
    setup = sa.create_engine(db_url)
    metadata.create_all(setup)
    # One engine per writer, as two processes would have.
    engines = [sa.create_engine(db_url) for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def work(engine: sa.Engine, n: int) -> None:
        log = AuditLog(engine, key=KEY, attempts=50)
        try:
            start.wait()
            for i in range(200):
                log.append(RequestApproved(actor=f"staff:{n}", subject_ref=f"req_{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e, n)) for n, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        log = AuditLog(setup, key=KEY)
        result = log.verify()
        assert result.ok, result
        assert result.checked == 400
        actors = [e.actor for e in log.entries()]
        assert actors.count("staff:0") == actors.count("staff:1") == 200
    finally:
        for e in [setup, *engines]:
            e.dispose()


def test_no_update_or_delete_api() -> None:
    public = {name for name in dir(AuditLog) if not name.startswith("_")}
    assert public == {"append", "anchor", "entries", "head", "verify"}


def test_key_from_env() -> None:
    assert key_from_env({}) is None
    assert key_from_env({"COVENANT_AUDIT_KEY": "x" * 32}) == b"x" * 32
    with pytest.raises(AuditError, match="at least 32"):
        key_from_env({"COVENANT_AUDIT_KEY": "short"})
    assert "x" * 32 not in repr(AuditLog(sa.create_engine("sqlite://"), key=b"x" * 32))


def _insert(engine: sa.Engine, entry: Entry) -> None:
    with engine.begin() as conn:
        conn.execute(
            audit_entries.insert().values(
                seq=entry.seq,
                at=entry.at,
                action=entry.action,
                actor=entry.actor,
                subject_ref=entry.subject_ref,
                body=entry.body,
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        )
