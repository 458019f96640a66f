"""The request desk end to end: a demo store, Covenant's own database, the real engine.

No web layer here (tests/test_privacy_center.py drives the pages); every step
goes through :class:`covenant.desk.Desk` as the pages and workers do.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from covenant.audit import AuditLog
from covenant.db import connect
from covenant.declaration import load
from covenant.demo.store import DemoStore, create
from covenant.desk import Desk, DeskError, NotFound
from covenant.desk.intake import SubmissionRefused, parse
from covenant.desk.tables import challenges, deliveries, details
from covenant.errors import CovenantError
from covenant.keys import Keys
from covenant.mail.outbox import Outbox
from covenant.mail.tables import mail_outbox
from covenant.migrations import upgrade
from covenant.requests import codes
from covenant.requests.lifecycle import DenialReason, Kind, State
from covenant.requests.store import RequestStore

T0 = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)
SECRET = b"k" * 48


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    return create(tmp_path_factory.mktemp("shop"), customers=40, seed=7)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@dataclass
class World:
    desk: Desk
    clock: Clock
    store: DemoStore
    engine: sa.Engine

    def messages(self, request_id: str) -> list[tuple[str, str]]:
        outbox = Outbox(self.engine, Keys(SECRET).sealer())
        found = outbox.messages(request_id=request_id, limit=100)
        # Oldest first; messages queued in one step share a time, so order those by kind.
        order = {"receipt": 0, "verification": 1}
        found.sort(key=lambda e: (e.created_at, order.get(e.template, 2)))
        return [(e.template, e.message.text if e.message else "") for e in found]

    def code(self, request_id: str) -> str:
        texts = [t for name, t in self.messages(request_id) if name == "verification"]
        match = re.search(r"\b(\d{8})\b", texts[-1])
        assert match is not None
        return match.group(1)

    def shop(self) -> sa.Engine:
        return sa.create_engine(self.store.database_url)


def _world(store: DemoStore, state_url: str, tmp_path: Path) -> World:
    url = sa.make_url(state_url)
    upgrade(url)
    engine = connect(url)
    clock = Clock()
    loaded = load(store.declaration)
    desk = Desk(
        loaded=loaded,
        store=RequestStore(engine, audit=AuditLog(engine)),
        keys=Keys(SECRET),
        outbox=Outbox(engine, Keys(SECRET).sealer()),
        files_dir=tmp_path / "files",
        public_url="https://privacy.example.test",
        clock=clock,
    )
    return World(desk, clock, store, engine)


@pytest.fixture
def world(store: DemoStore, tmp_path: Path) -> Iterator[World]:
    w = _world(store, f"sqlite:///{tmp_path}/state.db", tmp_path)
    yield w
    w.engine.dispose()


@dataclass(frozen=True)
class Customer:
    customer_id: int
    email: str


def _customer(store: DemoStore, n: int) -> Customer:
    """The n-th customer who has an order, a payment and an address to verify with."""
    shop = sa.create_engine(store.database_url)
    with shop.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT c.id, c.email FROM customers c WHERE c.phone IS NOT NULL"
                " AND EXISTS (SELECT 1 FROM addresses a WHERE a.customer_id = c.id)"
                " AND EXISTS (SELECT 1 FROM orders o JOIN payments p ON p.order_id = o.id"
                " WHERE o.customer_id = c.id) ORDER BY c.id LIMIT 1 OFFSET :n"
            ),
            {"n": n},
        ).one()
    shop.dispose()
    return Customer(row.id, row.email)


def _points(store: DemoStore, customer_id: int) -> dict[str, str]:
    shop = sa.create_engine(store.database_url)
    with shop.connect() as conn:
        last4 = conn.execute(
            sa.text(
                "SELECT p.card_last4 FROM payments p JOIN orders o ON o.id = p.order_id"
                " WHERE o.customer_id = :c LIMIT 1"
            ),
            {"c": customer_id},
        ).scalar_one()
        zip_code = conn.execute(
            sa.text("SELECT postal_code FROM addresses WHERE customer_id = :c LIMIT 1"),
            {"c": customer_id},
        ).scalar_one()
        phone = conn.execute(
            sa.text("SELECT phone FROM customers WHERE id = :c"), {"c": customer_id}
        ).scalar_one()
    shop.dispose()
    return {"card_last4": str(last4), "shipping_zip": str(zip_code), "phone": str(phone)}


def _submit(world: World, kind: Kind, email: str, **extra: object) -> str:
    submission = parse({"kind": kind.value, "email": email, **extra})
    return world.desk.submit(submission).id


def _verify(world: World, rid: str, points: dict[str, str] | None, *, signed: bool = True) -> str:
    assert world.desk.check_code(rid, world.code(rid)) is codes.Outcome.PASSED
    if points is None:
        return ""
    return world.desk.check_points(rid, points, declaration_signed=signed)


def test_an_access_request_goes_from_form_to_an_encrypted_download(world: World) -> None:
    person = _customer(world.store, 0)
    rid = _submit(world, Kind.ACCESS, person.email.upper())
    desk = world.desk
    assert desk.store.get(rid).state is State.AWAITING_VERIFICATION
    assert [name for name, _ in world.messages(rid)] == ["receipt", "verification"]
    code = world.code(rid)
    with world.engine.connect() as conn:
        raw = " ".join(str(v) for row in conn.execute(sa.select(mail_outbox)) for v in row)
        raw += " ".join(str(v) for row in conn.execute(sa.select(details)) for v in row)
        raw += " ".join(str(v) for row in conn.execute(sa.select(challenges)) for v in row)
    assert code not in raw
    assert person.email not in raw

    assert desk.check_code(rid, "00000000") is codes.Outcome.WRONG
    assert desk.next_step(rid).name == "code"
    assert desk.check_code(rid, code) is codes.Outcome.PASSED
    step = desk.next_step(rid)
    assert step.name == "points"
    assert step.needs_declaration
    reason = desk.check_points(
        rid, _points(world.store, person.customer_id), declaration_signed=True
    )
    assert "match" in reason
    # Access is approved automatically once verified (the declaration's auto_approve).
    assert desk.store.get(rid).state is State.IN_PROGRESS
    assert desk.pending_fulfilment() == [rid]

    desk.fulfil(rid)
    assert desk.store.get(rid).state is State.COMPLETED
    completion = [t for name, t in world.messages(rid) if name == "completion"]
    assert len(completion) == 1
    link = re.search(r"https://privacy\.example\.test/privacy/download/\S+", completion[0])
    assert link is not None
    token = link.group(0).rstrip(".").rsplit("/", 1)[1]

    chunks, name = desk.download(rid, token)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    data = json.loads(archive.read("data.json"))
    assert name.endswith(".zip")
    assert person.email in json.dumps(data)
    kept = next(world.desk.files_dir.glob("*.pkg"))
    assert person.email.encode() not in kept.read_bytes()
    assert not zipfile.is_zipfile(kept)  # encrypted at rest

    with pytest.raises(NotFound):
        desk.download(rid, token[:-2] + "xx")
    with pytest.raises(NotFound):
        desk.download(rid, token + "/../../etc/passwd")
    world.clock.advance(days=8)
    with pytest.raises(NotFound):
        desk.download(rid, token)  # expired: the link no longer works
    assert desk.expire() >= 1
    assert not list(world.desk.files_dir.glob("*.pkg"))  # and the file is gone
    with world.engine.connect() as conn:
        assert conn.execute(sa.select(deliveries.c.key)).scalar_one() == ""


def test_a_stranger_gets_the_same_words_and_is_denied_after_three_tries(world: World) -> None:
    person = _customer(world.store, 1)
    known = _submit(world, Kind.KNOW_CATEGORIES, person.email)
    stranger = _submit(world, Kind.KNOW_CATEGORIES, "nobody-here@example.org")

    def words(rid: str) -> list[str]:
        pattern = r"\d{8}|\S+/privacy/\S+|[0-9a-f]{8}-[0-9a-f-]{27}"
        return [re.sub(pattern, "X", t) for _, t in world.messages(rid)]

    assert words(known) == words(stranger)
    wrong = {"card_last4": "0000", "shipping_zip": "00000"}
    _verify(world, known, None)
    _verify(world, stranger, None)
    assert world.desk.check_points(known, wrong) == world.desk.check_points(stranger, wrong)
    world.desk.check_points(stranger, wrong)
    world.desk.check_points(stranger, wrong)
    request = world.desk.store.get(stranger)
    assert request.state is State.DENIED
    assert request.denial_reason is DenialReason.UNVERIFIED
    assert [name for name, _ in world.messages(stranger)][-1] == "denial"
    failed = [e.action for e in world.desk.store.audit.entries(subject_ref=stranger)]
    assert failed.count("verification.failed") == 3


def test_codes_are_limited_in_attempts_and_resends(world: World) -> None:
    rid = _submit(world, Kind.ACCESS, "someone@example.com")
    for _ in range(codes.DEFAULT_ATTEMPTS):
        assert world.desk.check_code(rid, "12345678") is codes.Outcome.WRONG
    assert world.desk.check_code(rid, world.code(rid)) is codes.Outcome.EXHAUSTED
    world.clock.advance(seconds=1)  # the newest message is the one with the new code
    assert world.desk.resend_code(rid)
    assert world.desk.check_code(rid, world.code(rid)) is codes.Outcome.PASSED
    rid2 = _submit(world, Kind.ACCESS, "someone@example.com")
    assert world.desk.resend_code(rid2)
    assert world.desk.resend_code(rid2)
    assert not world.desk.resend_code(rid2)  # three codes in all


def test_a_code_expires(world: World) -> None:
    rid = _submit(world, Kind.ACCESS, "late@example.com")
    code = world.code(rid)
    world.clock.advance(minutes=31)
    assert world.desk.check_code(rid, code) is codes.Outcome.EXPIRED


def test_specific_pieces_without_enough_proof_are_answered_as_categories(world: World) -> None:
    person = _customer(world.store, 2)
    rid = _submit(world, Kind.KNOW_SPECIFIC, person.email)
    two = dict(list(_points(world.store, person.customer_id).items())[:2])
    reason = _verify(world, rid, two, signed=True)
    assert "categories" in reason
    world.desk.fulfil(rid)
    request = world.desk.store.get(rid)
    assert request.state is State.COMPLETED
    info = world.desk.details(rid)
    assert world.desk.answered_as(request, info) is Kind.KNOW_CATEGORIES
    result = world.desk.result(rid)
    assert result is not None
    assert result["categories"]["categories"]
    assert world.desk.delivered(rid) is None  # no file for categories


def test_a_deletion_waits_for_staff_then_for_manual_tasks_then_completes_once(
    world: World,
) -> None:
    person = _customer(world.store, 3)
    rid = _submit(world, Kind.DELETE, person.email)
    _verify(world, rid, _points(world.store, person.customer_id))
    # Proven, but nothing happens until the person confirms the deletion (§7022(d), P17).
    assert world.desk.next_step(rid).name == "confirm"
    assert world.desk.store.get(rid).state is State.AWAITING_VERIFICATION
    with pytest.raises(DeskError):
        world.desk.approve(rid, actor="staff:1")
    world.desk.confirm_action(rid)
    with pytest.raises(DeskError):
        world.desk.confirm_action(rid)  # once only
    assert world.desk.store.get(rid).state is State.VERIFIED  # deletion is not auto-approved
    world.desk.approve(rid, actor="staff:1")
    world.desk.fulfil(rid)
    world.desk.fulfil(rid)  # a retry after a crash changes nothing
    request = world.desk.store.get(rid)
    tasks = world.desk.tasks(rid)
    assert tasks
    assert request.state is State.IN_PROGRESS
    shop = world.shop()
    with shop.connect() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM customers WHERE email = :e"), {"e": person.email}
        ).scalar_one()
    shop.dispose()
    assert left == 0
    with pytest.raises(DeskError):
        world.desk.complete_task(tasks[0].id, actor="staff:1", evidence="  ")
    for task in tasks:
        world.desk.complete_task(task.id, actor="staff:1", evidence="Sent the deletion notice")
    assert world.desk.store.get(rid).state is State.COMPLETED
    world.desk.complete_task(tasks[0].id, actor="staff:1", evidence="again")  # no second record
    entries = list(world.desk.store.audit.entries(subject_ref=rid))
    actions = [e.action for e in entries]
    assert actions.count("request.task_completed") == len(tasks)
    assert actions.count("request.completed") == 1
    assert [n for n, _ in world.messages(rid)].count("completion") == 1
    proof = json.loads(next(e for e in entries if e.action == "erasure.verified").body)
    assert proof["erased"]["shop.customers"] == 1  # counts per collection, never values
    assert person.email not in json.dumps(proof)
    assert all(t.target != "tax_authorities" for t in tasks)  # not theirs to delete


def test_two_workers_fulfilling_at_once_complete_the_request_once(world: World) -> None:
    person = _customer(world.store, 4)
    rid = _submit(world, Kind.ACCESS, person.email)
    _verify(world, rid, _points(world.store, person.customer_id))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            world.desk.fulfil(rid)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    actions = [e.action for e in world.desk.store.audit.entries(subject_ref=rid)]
    assert actions.count("request.completed") == 1
    assert [n for n, _ in world.messages(rid)].count("completion") == 1


def test_an_opt_out_needs_no_proof_and_lands_in_the_consent_ledger(world: World) -> None:
    from covenant.consent.ledger import ConsentLedger

    rid = _submit(world, Kind.OPT_OUT_SALE, "optout@example.com")
    assert world.desk.store.get(rid).state is State.IN_PROGRESS
    assert [n for n, _ in world.messages(rid)] == ["receipt"]  # no code to send
    world.desk.fulfil(rid)
    assert world.desk.store.get(rid).state is State.COMPLETED
    history = ConsentLedger(world.engine).subject_history(
        world.desk.subject_ref("optout@example.com")
    )
    assert history
    assert all(r.choice.value == "denied" for r in history)


def test_an_agent_request_waits_for_permission_and_the_consumer(world: World) -> None:
    person = _customer(world.store, 5)
    rid = _submit(
        world,
        Kind.KNOW_CATEGORIES,
        person.email,
        agent_name="Privacy Helpers LLC",
        agent_email="agent@helpers.example",
    )
    # The code goes to the agent; the consumer is asked directly whether they gave permission.
    outbox = Outbox(world.engine, Keys(SECRET).sealer())
    sent = {e.template: e.message for e in outbox.messages(request_id=rid) if e.message}
    assert sent["verification"].to == "agent@helpers.example"
    assert sent["agent_confirmation"].to == person.email
    assert "Privacy Helpers LLC" in sent["agent_confirmation"].text
    link = re.search(r"/privacy/confirm/\S+/(\S+)", sent["agent_confirmation"].text)
    assert link is not None
    assert link.group(1) == world.desk.confirm_token(rid)
    _verify(world, rid, _points(world.store, person.customer_id))
    assert world.desk.next_step(rid).name == "agent"
    request = world.desk.store.get(rid)
    missing = world.desk.agent_check(request, world.desk.details(rid)).missing
    assert any("permission" in m for m in missing)
    assert not any("power of attorney" in m and "never" not in m for m in missing)
    world.desk.record_agent_evidence(rid, actor="staff:2", permission=True)
    assert world.desk.store.get(rid).state is State.AWAITING_VERIFICATION
    with pytest.raises(NotFound):
        world.desk.consumer_confirms(rid, "forged")
    world.desk.consumer_confirms(rid, link.group(1))
    assert world.desk.store.get(rid).state is State.IN_PROGRESS


def test_staff_deny_and_extend_tell_the_person(world: World) -> None:
    rid = _submit(world, Kind.DELETE, "ext@example.com")
    world.clock.advance(days=10)
    extended = world.desk.extend(
        rid, actor="staff:1", reason="We need to check records held by a supplier"
    )
    assert extended.respond_by is not None
    assert extended.respond_by > T0 + dt.timedelta(days=80)
    texts = dict(world.messages(rid))
    assert "supplier" in texts["extension"]
    world.desk.deny(rid, actor="staff:1", reason=DenialReason.EXEMPT_RETENTION, note="tax")
    assert "law requires us to keep" in dict(world.messages(rid))["denial"]
    world.desk.add_note(rid, actor="staff:1", text="<script>alert(1)</script> called back")
    assert world.desk.notes(rid)[0].text.startswith("<script>")  # kept as typed; escaped on output
    noted = [
        e
        for e in world.desk.store.audit.entries(subject_ref=rid)
        if e.action == "request.note_added"
    ]
    assert len(noted) == 1
    assert "script" not in noted[0].body  # the trail says a note was added, not what it says


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "access", "email": "not-an-email"}, "email"),
        ({"kind": "access", "email": "a@b.co", "name": "x\u0000y"}, "name"),
        ({"kind": "access", "email": "a@b.co", "name": "n" * 5000}, "name"),
        ({"kind": "fly_to_moon", "email": "a@b.co"}, "kind"),
        ({"kind": "correct", "email": "a@b.co"}, "corrections"),
        ({"kind": "access", "email": "a@b.co", "corrections": {"x": "y"}}, "corrections"),
        ({"kind": "access", "email": "a@b.co", "agent_name": "Agent"}, "agent_email"),
        ({"kind": "access", "email": "a@b.co", "extra": "field"}, "extra"),
    ],
)
def test_bad_forms_are_refused_naming_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(SubmissionRefused) as caught:
        parse(data)
    assert field in caught.value.problems


def test_refused_forms_write_nothing(world: World) -> None:
    with pytest.raises(SubmissionRefused):
        parse({"kind": "access", "email": "bad"})
    with world.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM requests")).scalar_one() == 0


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_the_desk_runs_on_server_databases(
    store: DemoStore, tmp_path: Path, fresh_db: object, backend: str
) -> None:
    url = fresh_db(backend)  # type: ignore[operator]
    w = _world(store, url, tmp_path)
    try:
        person = _customer(store, 6)
        rid = _submit(w, Kind.ACCESS, person.email)
        _verify(w, rid, _points(store, person.customer_id))
        w.desk.fulfil(rid)
        assert w.desk.store.get(rid).state is State.COMPLETED
        assert w.desk.store.audit.verify().ok
    finally:
        w.engine.dispose()


def test_a_fulfilment_that_fails_says_why_to_staff_and_can_be_retried(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COVENANT_HASH_KEY", raising=False)
    caller = world.store.samples.call_only_phone
    rid = _submit(world, Kind.DELETE, "caller@example.com", phone=caller)
    world.desk.verify_by_staff(rid, actor="staff:1")
    world.desk.approve(rid, actor="staff:1")
    with pytest.raises(CovenantError):
        world.desk.fulfil(rid)  # the keyed-hash strategy has no key
    with pytest.raises(CovenantError):
        world.desk.fulfil(rid)
    notes = [n for n in world.desk.notes(rid) if n.author == "system"]
    assert len(notes) == 1  # the same failure twice is noted once
    assert "COVENANT_HASH_KEY" in notes[0].text
    assert world.desk.store.get(rid).state is State.IN_PROGRESS  # left for the retry
    monkeypatch.setenv("COVENANT_HASH_KEY", "a-key-for-the-retry-0123456789")
    world.desk.fulfil(rid)
    assert world.desk.tasks(rid)  # the erasure ran; recipients are next


def test_a_deletion_that_found_nothing_asks_no_recipient_to_act(world: World) -> None:
    rid = _submit(world, Kind.DELETE, "stranger-delete@example.org")
    world.desk.verify_by_staff(rid, actor="staff:1")
    world.desk.approve(rid, actor="staff:1")
    world.desk.fulfil(rid)
    assert world.desk.tasks(rid) == []
    assert world.desk.store.get(rid).state is State.COMPLETED


def test_a_parent_asks_to_delete_a_childs_data_and_no_marketing_is_kept_for_them(
    world: World,
) -> None:
    from covenant.consent.engine import ConsentEngine
    from covenant.consent.ledger import ConsentLedger
    from covenant.consent.records import Topic

    child = _customer(world.store, 8)
    rid = _submit(world, Kind.DELETE, child.email, about_minor=True)
    assert world.desk.details(rid).about_minor
    world.desk.verify_by_staff(rid, actor="staff:1")  # the guardian's authority, checked by staff
    world.desk.approve(rid, actor="staff:1")
    world.desk.fulfil(rid)
    world.desk.fulfil(rid)
    engine = ConsentEngine(ConsentLedger(world.engine), world.desk.loaded.declaration)
    ref = world.desk.subject_ref(child.email)
    kinds = [r.kind.value for r in engine.ledger.subject_history(ref)]
    assert kinds.count("minor") == 1  # once, however often the job runs
    assert not engine.may_use(Topic("purpose", "marketing"), subject_ref=ref).allowed
    with pytest.raises(SubmissionRefused) as refused:
        parse(
            {
                "kind": "correct",
                "email": "k@example.com",
                "about_minor": True,
                "corrections": {"a.b.c": "x"},
            }
        )
    assert "about_minor" in refused.value.problems
