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
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from covenant.api.events import ApiTokenCreated, ApiTokenRevoked
from covenant.audit import (
    EVENTS,
    Anchor,
    AuditError,
    AuditLog,
    ConsentRecorded,
    DeadlineExtended,
    ErasureVerified,
    ExportDownloaded,
    FulfillmentRequeued,
    FulfillmentStarted,
    InvalidEvent,
    NoteAdded,
    PersonalDataInEvent,
    RecordsExported,
    RequestApproved,
    RequestCancelled,
    RequestCompleted,
    RequestDenied,
    RequestReceived,
    StaffLogin,
    StaffLoginFailed,
    TaskCompleted,
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
from covenant.audit.store import audit_entries, mysql_lock_name
from covenant.cli import app
from covenant.db import connect
from covenant.migrations import upgrade
from covenant.requests.lifecycle import Channel, Kind, State
from covenant.requests.store import RequestStore
from covenant.staff.events import (
    StaffAccountCreated,
    StaffAccountDisabled,
    StaffPasswordChanged,
    StaffRoleChanged,
)

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
    FulfillmentStarted(actor="system", subject_ref="req_04"),
    FulfillmentRequeued(actor="system", subject_ref="req_04"),
    RequestCancelled(actor="consumer", subject_ref="req_04"),
    NoteAdded(actor="staff:7", subject_ref="req_04"),
    TaskCompleted(actor="staff:7", subject_ref="req_04", target="mail_vendor"),
    RecordsExported(actor="staff:1", subject_ref="export:requests", export="requests"),
    # Registered by the staff and API packages, as a plugin would register its own.
    StaffAccountCreated(actor="staff:1", subject_ref="staff:7", role="reviewer"),
    StaffRoleChanged(actor="staff:1", subject_ref="staff:7", role="read_only"),
    StaffPasswordChanged(actor="staff:7", subject_ref="staff:7"),
    StaffAccountDisabled(actor="staff:1", subject_ref="staff:7"),
    ApiTokenCreated(actor="system", subject_ref="api_token:3", scopes="requests:write"),
    ApiTokenRevoked(actor="system", subject_ref="api_token:3"),
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
    assert [e.seq for e in log.entries(since=10)] == list(range(11, len(SAMPLES) + 1))
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


def test_append_in_commits_with_the_callers_writes_or_not_at_all(engine: sa.Engine) -> None:
    log = AuditLog(engine, key=KEY)
    log.append(SAMPLES[0], at=T0)

    def fail_after_appending() -> None:
        with log.transaction() as conn:
            log.append_in(conn, SAMPLES[1], at=T0)
            raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError, match="the caller failed"):
        fail_after_appending()
    assert [e.seq for e in log.entries()] == [1]
    if engine.dialect.name in ("mysql", "mariadb"):
        # GET_LOCK belongs to the session, which goes back to the pool: it must be free.
        with engine.connect() as conn:
            free = conn.execute(sa.select(sa.func.is_free_lock(mysql_lock_name())))
            assert free.scalar() == 1
    with log.transaction() as conn:
        first = log.append_in(conn, SAMPLES[1], at=T0)
        second = log.append_in(conn, SAMPLES[2], at=T0)
        # Not visible to others until the caller's transaction commits.
        visible = log.head()
        assert visible is not None
        assert visible.seq == 1
    assert (first.seq, second.seq, second.prev_hash) == (2, 3, first.hash)
    assert log.verify().ok
    # The lock went with the transaction: a plain append still goes through.
    assert log.append(SAMPLES[3], at=T0).seq == 4


def test_append_in_refuses_a_connection_without_the_append_lock(engine: sa.Engine) -> None:
    log = AuditLog(engine)
    with engine.begin() as conn, pytest.raises(AuditError, match="transaction"):
        log.append_in(conn, SAMPLES[0], at=T0)
    with log.transaction():
        pass
    with engine.begin() as conn, pytest.raises(AuditError, match="transaction"):
        log.append_in(conn, SAMPLES[0], at=T0)  # the pooled connection forgot the mark
    assert log.head() is None


def test_no_update_or_delete_api() -> None:
    public = {name for name in dir(AuditLog) if not name.startswith("_")}
    assert public == {"append", "append_in", "anchor", "entries", "head", "transaction", "verify"}


def test_key_from_env() -> None:
    assert key_from_env({}) is None
    assert key_from_env({"COVENANT_AUDIT_KEY": "x" * 32}) == b"x" * 32
    with pytest.raises(AuditError, match="at least 32"):
        key_from_env({"COVENANT_AUDIT_KEY": "short"})
    assert "x" * 32 not in repr(AuditLog(sa.create_engine("sqlite://"), key=b"x" * 32))


# -- covenant audit verify ----------------------------------------------------

runner = CliRunner()


def _lifecycle(url: str, key: bytes | None = None) -> None:
    """One request from receipt to completion, audited, in Covenant's own database at ``url``."""
    upgrade(sa.make_url(url))
    engine = connect(sa.make_url(url))
    store = RequestStore(engine, audit=AuditLog(engine, key=key))
    rid = store.open(
        kind=Kind.ACCESS,
        channel=Channel.WEB,
        jurisdiction="eu",
        subject_ref="ref-1",
        received_at=T0,
    ).id
    store.move(rid, State.AWAITING_VERIFICATION, actor="system", at=T0, method="email_code")
    store.move(rid, State.VERIFIED, actor="consumer", at=T0, method="email_code")
    store.move(rid, State.IN_PROGRESS, actor="system", at=T0)
    store.move(rid, State.COMPLETED, actor="system", at=T0)
    engine.dispose()


def _verify(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["audit", "verify", "--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def declaration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("COVENANT_AUDIT_KEY", raising=False)
    monkeypatch.delenv("COVENANT_DATABASE_URL", raising=False)
    return tmp_path / "covenant.yml"


def test_cli_verify_finds_an_edited_row(
    db_url: str, declaration: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVENANT_DATABASE_URL", db_url)
    _lifecycle(db_url)
    code, stdout, _ = _verify(declaration)
    assert code == 0, stdout
    assert "audit chain OK: 5 entries, head 5:" in stdout
    head = json.loads(_verify(declaration, "--json")[1])["head"]
    engine = sa.create_engine(db_url)
    _sql(engine, "UPDATE audit_entries SET actor = 'staff:9' WHERE seq = 3")
    engine.dispose()
    code, stdout, stderr = _verify(declaration)
    assert code == 1
    assert "broken at seq 3" in stderr
    assert "last entry that verified: entry 2:" in stderr
    code, stdout, _ = _verify(declaration, "--json", "--anchor", head)
    assert code == 1
    report = json.loads(stdout)
    assert (report["ok"], report["broken_at"], report["checked"]) == (False, 3, 2)


def test_cli_verify_uses_the_default_database_and_the_key(
    declaration: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["db", "upgrade", "--config", str(declaration)]).exit_code == 0
    key = "k" * 32
    _lifecycle(f"sqlite:///{declaration.parent / 'covenant-state.db'}", key=key.encode())
    code, _, stderr = _verify(declaration)  # without the key, every HMAC looks forged
    assert (code, "broken at seq 1" in stderr) == (1, True)
    monkeypatch.setenv("COVENANT_AUDIT_KEY", key)
    code, stdout, _ = _verify(declaration, "--json")
    assert code == 0
    head = json.loads(stdout)["head"]
    assert head.startswith("5:")
    assert _verify(declaration, "--anchor", head)[0] == 0
    # An anchor past the end says the log was cut short.
    code, _, stderr = _verify(declaration, "--anchor", "9:" + "0" * 64)
    assert code == 1
    assert "the log ends at entry 5" in stderr


def test_cli_verify_errors_are_clear(declaration: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, stderr = _verify(declaration)
    assert code == 3
    assert "does not exist; run covenant db upgrade" in stderr
    assert not (declaration.parent / "covenant-state.db").exists()
    code, _, stderr = _verify(declaration, "--anchor", "5:nothex")
    assert code == 2
    assert "SEQ:HASH" in stderr
    monkeypatch.setenv("COVENANT_AUDIT_KEY", "short")
    assert "at least 32" in _verify(declaration)[2]
    monkeypatch.delenv("COVENANT_AUDIT_KEY")
    empty = declaration.parent / "covenant-state.db"
    probe = sa.create_engine(f"sqlite:///{empty}")
    probe.connect().close()  # creates the file, with no tables
    probe.dispose()
    code, _, stderr = _verify(declaration)
    assert code == 3
    assert "has no audit trail" in stderr


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
