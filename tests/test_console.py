"""The staff console over HTTP, in process: the queue, a request's page, decisions, logging
requests by phone or post, the exports, and who may do what.

The app runs with its lifespan, so approvals are fulfilled by the real
in-process job runner against the demo store. The queue's SQL is checked on
every backend.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import Parameters, Type
from starlette.applications import Starlette

from covenant.audit import AuditLog, Entry, verify
from covenant.db import connect
from covenant.demo.store import DemoStore, create
from covenant.desk.intake import parse
from covenant.desk.service import DENIAL_WORDS, Desk
from covenant.migrations import upgrade
from covenant.requests.deadlines import Standing
from covenant.requests.lifecycle import Channel, DenialReason, Kind, State
from covenant.requests.store import RequestStore
from covenant.settings import Settings
from covenant.staff.console import (
    DENIAL_LABELS,
    EXTENSION_REASONS,
    RECORD_COLUMNS,
    Counts,
    audit_lines,
    open_queue,
    preview,
    queue_counts,
    standing,
)
from covenant.staff.console import routes as console_routes
from covenant.staff.passwords import Passwords
from covenant.staff.roles import Role
from covenant.web import create_app

BASE = "http://127.0.0.1:8000"
PW = "correct horse battery"
T0 = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
FAST = Parameters(
    type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=1, memory_cost=1024, parallelism=1
)
USERS = {Role.ADMIN: "alma", Role.REVIEWER: "rui", Role.READ_ONLY: "ines"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    return create(tmp_path_factory.mktemp("console"), customers=20, seed=5)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


class Console:
    """The app, and one signed-in browser per role (plus one signed out)."""

    def __init__(self, app: Starlette, clients: dict[Role | None, httpx.AsyncClient]) -> None:
        self.app = app
        self.clients = clients

    @property
    def desk(self) -> Desk:
        desk: Desk = self.app.state.desk
        return desk

    def staff_ref(self, role: Role) -> str:
        account = self.app.state.staff.find(USERS[role])
        return f"staff:{account.id}"

    async def get(self, path: str, role: Role | None = Role.REVIEWER) -> httpx.Response:
        return await self.clients[role].get(path)

    async def post(
        self, path: str, role: Role = Role.REVIEWER, *, page: str | None = None, **fields: str
    ) -> httpx.Response:
        """Post a form with the token from ``page`` (the request's page by default)."""
        shown = await self.get(page or path.rsplit("/", 1)[0], role)
        assert shown.status_code == 200, shown.text
        return await self.clients[role].post(path, data={"csrf_token": _token(shown), **fields})

    async def act(
        self, rid: str, action: str, role: Role = Role.REVIEWER, **fields: str
    ) -> httpx.Response:
        """Post ``fields`` to one of a request's actions, as ``role`` would from its page."""
        path = f"/admin/requests/{rid}"
        return await self.post(f"{path}/{action}", role, page=path, **fields)

    def submit(self, kind: Kind, email: str) -> str:
        return self.desk.submit(parse({"kind": kind.value, "email": email})).id

    def count(self) -> int:
        with self.desk.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM requests")).scalar_one())


async def _sign_in(client: httpx.AsyncClient, username: str) -> None:
    token = _token(await client.get("/admin/login"))
    done = await client.post(
        "/admin/login", data={"csrf_token": token, "username": username, "password": PW}
    )
    assert done.status_code == 303, done.text


@pytest.fixture
async def console(
    store: DemoStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Console]:
    # The demo's erasure rewrites some fields to a keyed hash (README: the `hash` strategy).
    monkeypatch.setenv("COVENANT_HASH_KEY", "console-test-hash-key-0123456789")
    settings = Settings(
        config=store.declaration,
        database_url=f"sqlite:///{tmp_path}/state.db",
        development=True,
        public_url=BASE,
    )
    app = create_app(settings)
    assert any(getattr(r, "path", None) == "/admin" for r in app.routes)  # wired by the factory
    async with app.router.lifespan_context(app):
        app.state.staff.passwords = Passwords(FAST)  # cheap hashes: many sign-ins below
        for role, name in USERS.items():
            app.state.staff.create(name, PW, role)
        transport = httpx.ASGITransport(app=app)
        clients: dict[Role | None, httpx.AsyncClient] = {
            role: httpx.AsyncClient(transport=transport, base_url=BASE) for role in [*USERS, None]
        }
        try:
            for role, name in USERS.items():
                await _sign_in(clients[role], name)
            yield Console(app, clients)
        finally:
            for client in clients.values():
                await client.aclose()


async def _until(console: Console, rid: str, done: Any, timeout: float = 30.0) -> None:
    for _ in range(int(timeout * 10)):
        if done():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out; the request is {console.desk.store.get(rid).state}")


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [row for row in body.split("<tr>")[1:]]


# The queue's SQL, on every backend.


@pytest.fixture
def requests_store(db_url: str) -> Iterator[RequestStore]:
    url = sa.make_url(db_url)
    upgrade(url)
    engine = connect(url)
    yield RequestStore(engine, audit=AuditLog(engine))
    engine.dispose()


def _open(
    store: RequestStore, received: dt.datetime, respond_by: dt.datetime | None, **kw: Any
) -> str:
    return store.open(
        kind=kw.get("kind", Kind.ACCESS),
        channel=kw.get("channel", Channel.WEB),
        jurisdiction="us-ca",
        subject_ref="ref-" + received.isoformat(),
        received_at=received,
        respond_by=respond_by,
    ).id


def test_the_queue_reads_open_requests_soonest_first_a_page_at_a_time(
    requests_store: RequestStore,
) -> None:
    s = requests_store
    on_time = _open(s, T0 - 5 * DAY, T0 + 30 * DAY)
    overdue = _open(s, T0 - 50 * DAY, T0 - 2 * DAY)
    no_deadline = _open(s, T0 - 60 * DAY, None)
    soon = _open(s, T0 - 40 * DAY, T0 + DAY)
    closed = _open(s, T0 - 70 * DAY, T0 - 20 * DAY)
    s.move(closed, State.CANCELLED, actor="staff:1", at=T0 - 30 * DAY)

    first = open_queue(s.engine, size=2)
    assert [i.id for i in first.items] == [overdue, soon]
    assert first.more
    second = open_queue(s.engine, page=2, size=2)
    assert [i.id for i in second.items] == [on_time, no_deadline]  # no deadline comes last
    assert not second.more
    assert open_queue(s.engine, page=3, size=2).items == []
    assert [i.id for i in open_queue(s.engine, state=State.CANCELLED).items] == [closed]
    assert open_queue(s.engine, state=State.VERIFIED).items == []
    item = first.items[0]
    assert (item.kind, item.channel, item.state) == (Kind.ACCESS, Channel.WEB, State.RECEIVED)
    assert item.respond_by == T0 - 2 * DAY  # aware, in UTC, on every backend
    assert queue_counts(s.engine, now=T0) == Counts(open=4, overdue=1, due_this_week=1)
    assert queue_counts(s.engine, now=T0 + 40 * DAY) == Counts(open=4, overdue=3, due_this_week=0)


# Pure pieces.


def test_standing_says_where_a_deadline_is() -> None:
    def at(respond_by: dt.datetime | None) -> Standing | None:
        return standing(Kind.DELETE, "us-ca", T0 - 10 * DAY, respond_by, T0)

    assert at(T0 - dt.timedelta(seconds=1)) is Standing.OVERDUE
    assert at(T0 + DAY) is Standing.DUE_SOON
    assert at(T0 + 10 * DAY) is Standing.ON_TIME
    assert at(None) is None


def test_previews_put_results_in_words() -> None:
    erased = preview(
        {
            "kind": "delete",
            "verified": True,
            "manual": ["crm.contacts"],
            "collections": [
                {"collection": "shop.customers", "found": 1, "deleted": 1, "masked": 0},
                {
                    "collection": "shop.orders",
                    "found": 3,
                    "deleted": 0,
                    "held": 3,
                    "held_reason": "Tax law: 7 years",
                },
            ],
        }
    )
    assert erased.proven is True
    assert erased.manual == ["crm.contacts"]
    assert [(ln.name, ln.figures, ln.note) for ln in erased.lines] == [
        ("shop.customers", "found 1, deleted 1, masked 0, held 0", ""),
        ("shop.orders", "found 3, deleted 0, masked 0, held 3", "Tax law: 7 years"),
    ]
    copy = preview({"kind": "access", "rows": 4, "collections": {"a.b": 3, "a.c": 0, "a.d": 1}})
    assert copy.title.endswith("4 rows")
    assert [(ln.name, ln.figures) for ln in copy.lines] == [("a.b", "3 rows"), ("a.d", "1 row")]
    kinds = preview(
        {"kind": "know_categories", "categories": {"categories": [{"label": "Contact"}]}}
    )
    assert [ln.name for ln in kinds.lines] == ["Contact"]
    assert [ln.name for ln in preview({"kind": "opt_out_sale", "opted_out": ["ads"]}).lines] == [
        "ads"
    ]


def test_the_audit_export_verifies_on_its_own(tmp_path: Path) -> None:
    engine = connect(sa.make_url(f"sqlite:///{tmp_path}/a.db"))
    upgrade(engine.url)
    store = RequestStore(engine, audit=AuditLog(engine))
    for n in range(3):
        _open(store, T0 + n * DAY, T0 + 30 * DAY)
    text = "".join(audit_lines(store.audit.entries(), batch=2))
    assert _verified(text) == 3
    tampered = text.replace('\\"channel\\":\\"web\\"', '\\"channel\\":\\"post\\"', 1)
    assert tampered != text
    assert _verified(tampered) is None
    engine.dispose()


def _verified(jsonl: str) -> int | None:
    """How many entries of an exported log verify as a chain; None when it is broken."""
    lines = [json.loads(line) for line in jsonl.splitlines()]
    entries = [
        Entry(**{**line, "at": dt.datetime.fromisoformat(line["at"].replace("Z", "+00:00"))})
        for line in lines
    ]
    result = verify(entries)
    return result.checked if result.ok else None


def test_the_console_doc_names_every_route_reason_and_export_column() -> None:
    text = " ".join((Path(__file__).parent.parent / "docs" / "console.md").read_text().split())
    for route in console_routes():
        path = getattr(route, "path", "").replace("{rid}", "{id}").replace(":int}", "}")
        tail = path.removeprefix("/admin/requests/{id}/")
        assert (f"`{tail}`" if tail != path else path) in text, path
    for sentence in EXTENSION_REASONS.values():
        assert sentence in text
    for label in DENIAL_LABELS.values():
        assert label.lower() in text.lower()
    for column in RECORD_COLUMNS:
        assert f"`{column}`" in text


# The pages, in the full app.


@pytest.mark.anyio
async def test_the_queue_page_lists_open_requests_by_deadline_with_words_for_standing(
    console: Console,
) -> None:
    s, now = console.desk.store, console.desk.clock()
    on_time = _open(s, now - 5 * DAY, now + 30 * DAY, channel=Channel.POST)
    overdue = _open(s, now - 50 * DAY, now - 2 * DAY, kind=Kind.DELETE)
    soon = _open(s, now - 40 * DAY, now + DAY)
    closed = _open(s, now - 70 * DAY, now - 20 * DAY)
    s.move(closed, State.CANCELLED, actor="staff:1", at=now - 30 * DAY)

    page = await console.get("/admin", Role.READ_ONLY)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    rows = _rows(page.text)
    assert [re.search(r"/admin/requests/([0-9a-f-]{36})", r).group(1) for r in rows] == [  # type: ignore[union-attr]
        overdue,
        soon,
        on_time,
    ]
    assert "Overdue" in rows[0]
    assert "Delete their data" in rows[0]
    assert "Due soon" in rows[1]
    assert "On time" in rows[2]
    assert "Post" in rows[2]
    assert "<strong>1</strong> overdue" in page.text
    assert "<strong>1</strong> due in the next 7 days" in page.text
    assert "<strong>3</strong> open in all" in page.text
    due_day = (now - 2 * DAY).astimezone(console.desk.tz).date().isoformat()
    assert due_day in rows[0]

    cancelled = await console.get("/admin?state=cancelled", Role.READ_ONLY)
    assert [closed] == re.findall(r'href="/admin/requests/([0-9a-f-]{36})"', cancelled.text)
    for bad in ("/admin?state=<script>", "/admin?page=0", "/admin?page=" + "9" * 50):
        refused = await console.get(bad, Role.READ_ONLY)
        assert refused.status_code == 400
        assert "<script>" not in refused.text


@pytest.mark.anyio
async def test_a_phone_deletion_logged_verified_approved_and_finished_in_the_console(
    console: Console, store: DemoStore
) -> None:
    person = store.samples.customers[2]
    form = await console.get("/admin/requests/new")
    assert form.status_code == 200
    logged = await console.post(
        "/admin/requests/new",
        page="/admin/requests/new",
        kind="delete",
        channel="phone",
        email=person.email,
        phone=person.phone,
        name="Zoë 山田",
        jurisdiction="us-ca",
    )
    assert logged.status_code == 303, logged.text
    rid = re.fullmatch(r"/admin/requests/([0-9a-f-]{36})\?done=logged", logged.headers["location"])
    assert rid is not None
    rid_ = rid.group(1)
    made = console.desk.store.get(rid_)
    assert (made.channel, made.state) == (Channel.PHONE, State.AWAITING_VERIFICATION)
    received = next(console.desk.store.audit.entries(subject_ref=rid_))
    assert (received.action, received.actor) == (
        "request.received",
        console.staff_ref(Role.REVIEWER),
    )
    queue = await console.get("/admin")
    (row,) = [r for r in _rows(queue.text) if rid_ in r]
    assert "Phone" in row

    page = await console.get(logged.headers["location"])
    assert "Request logged" in page.text
    assert person.email in page.text  # staff need the contact address
    verified = await console.act(rid_, "verify", confirmed="yes")
    assert verified.status_code == 303
    assert console.desk.store.get(rid_).state is State.VERIFIED  # deletion waits for approval
    page = await console.get(f"/admin/requests/{rid_}")
    assert "staff, by phone" in page.text

    approved = await console.act(rid_, "approve")
    assert approved.headers["location"].endswith("?done=approved")
    await _until(console, rid_, lambda: console.desk.tasks(rid_))
    page = await console.get(f"/admin/requests/{rid_}")
    assert "What the erasure did, per collection" in page.text
    assert "shop.customers" in page.text
    assert "Re-reading the data proved the change." in page.text
    tasks = console.desk.tasks(rid_)
    assert console.desk.store.get(rid_).state is State.IN_PROGRESS
    for n, task in enumerate(tasks):
        assert f"/admin/requests/{rid_}/tasks/{task.id}" in page.text
        done = await console.act(rid_, f"tasks/{task.id}", evidence=f"Notice sent <b>#{n}</b>")
        assert done.status_code == 303, done.text
    assert console.desk.store.get(rid_).state is State.COMPLETED
    page = await console.get(f"/admin/requests/{rid_}")
    assert "Notice sent &lt;b&gt;#0&lt;/b&gt;" in page.text
    assert "Nothing to decide: the request is closed." in page.text
    actions = {(e.action, e.actor) for e in console.desk.store.audit.entries(subject_ref=rid_)}
    assert ("request.approved", console.staff_ref(Role.REVIEWER)) in actions
    assert ("verification.passed", console.staff_ref(Role.REVIEWER)) in actions


@pytest.mark.anyio
async def test_deny_with_a_reason_tells_the_person_and_keeps_the_note_escaped(
    console: Console,
) -> None:
    rid = console.submit(Kind.ACCESS, "stranger@example.net")
    page = await console.get(f"/admin/requests/{rid}")
    for reason in DenialReason:
        assert f'value="{reason.value}"' in page.text
    hostile = '<script>alert("x")</script> called twice'
    denied = await console.act(rid, "deny", reason="unverified", note=hostile)
    assert denied.status_code == 303
    request = console.desk.store.get(rid)
    assert (request.state, request.denial_reason) == (State.DENIED, DenialReason.UNVERIFIED)
    sent = console.app.state.outbox.messages(rid, 10)
    (denial,) = [m for m in sent if m.template == "denial"]
    assert DENIAL_WORDS[DenialReason.UNVERIFIED][:40] in denial.message.text
    page = await console.get(f"/admin/requests/{rid}?done=denied")
    assert "Denied. The person is told why." in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; called twice" in page.text
    assert "<script>alert" not in page.text

    # A refused move is a readable page with the desk's words, not a trace.
    again = await console.act(rid, "approve")
    assert again.status_code == 409
    assert "There is a problem" in again.text
    assert "only a verified request can be approved" in again.text


@pytest.mark.anyio
async def test_an_agent_request_shows_its_documents_and_records_the_permission(
    console: Console,
) -> None:
    pdf = b"%PDF-1.7\n" + b"signed permission " * 100
    submission = parse(
        {
            "kind": "delete",
            "email": "consumer@example.net",
            "agent_name": "<i>Helpers</i> LLC",
            "agent_email": "agent@helpers.example",
        }
    )
    rid = console.desk.submit(submission, attachments=(pdf,)).id
    page = await console.get(f"/admin/requests/{rid}")
    assert "&lt;i&gt;Helpers&lt;/i&gt; LLC, agent@helpers.example" in page.text
    link = f"/admin/requests/{rid}/documents/0"
    assert f'href="{link}"' in page.text
    got = await console.get(link)
    assert (got.status_code, got.content) == (200, pdf)

    unticked = await console.act(rid, "agent")
    assert unticked.status_code == 400
    assert "Tick the box" in unticked.text
    recorded = await console.act(rid, "agent", permission="yes")
    assert recorded.headers["location"].endswith("?done=agent")
    assert console.desk.details(rid).agent_permission
    # The agent has not proven their own e-mail yet, so a phone check alone cannot verify.
    waits = await console.act(rid, "verify", confirmed="yes")
    assert waits.headers["location"].endswith("?done=agent_waits")
    assert console.desk.store.get(rid).state is State.AWAITING_VERIFICATION
    page = await console.get(waits.headers["location"])
    assert "still waits for the agent" in page.text


@pytest.mark.anyio
async def test_extend_once_with_a_reason_from_the_list(console: Console) -> None:
    rid = console.submit(Kind.DELETE, "slow@example.net")
    before = console.desk.store.get(rid).respond_by
    assert before is not None
    unknown = await console.act(rid, "extend", reason="because I said so")
    assert unknown.status_code == 400
    assert "Choose why the request needs more time" in unknown.text
    extended = await console.act(rid, "extend", reason="provider")
    assert extended.status_code == 303
    after = console.desk.store.get(rid).respond_by
    assert after is not None
    assert after > before + 30 * DAY
    page = await console.get(f"/admin/requests/{rid}")
    assert after.astimezone(console.desk.tz).date().isoformat() in page.text
    assert f"/admin/requests/{rid}/extend" not in page.text  # the one extension is taken
    (notice,) = [m for m in console.app.state.outbox.messages(rid, 10) if m.template == "extension"]
    assert "service provider" in notice.message.text
    assert EXTENSION_REASONS["provider"] in [
        json.loads(e.body)["reason"]
        for e in console.desk.store.audit.entries(subject_ref=rid)
        if e.action == "request.deadline_extended"
    ]
    twice = await console.act(rid, "extend", reason="complex")
    assert twice.status_code == 409
    assert "only one extension" in twice.text


@pytest.mark.anyio
async def test_who_may_do_what(console: Console) -> None:
    rid = console.submit(Kind.DELETE, "roles@example.net")
    path = f"/admin/requests/{rid}"

    # Read only: sees the page without a single action on it, and cannot post.
    seen = await console.get(path, Role.READ_ONLY)
    assert seen.status_code == 200
    assert "Your role lets you view requests, not act on them." in seen.text
    assert f"{path}/deny" not in seen.text
    assert f"{path}/notes" not in seen.text
    refused = await console.act(rid, "deny", Role.READ_ONLY, reason="unverified")
    assert refused.status_code == 403
    assert (await console.get("/admin/requests/new", Role.READ_ONLY)).status_code == 403
    assert (await console.get("/admin/audit.jsonl", Role.READ_ONLY)).status_code == 403
    assert (await console.get("/admin/audit.jsonl", Role.REVIEWER)).status_code == 403

    # Signed out: pages send you to sign in; posts are refused.
    for page in ("/admin", path, "/admin/records.csv", "/admin/requests/new"):
        gone = await console.get(page, None)
        assert (gone.status_code, gone.headers["location"]) == (303, "/admin/login")
    anonymous = await console.clients[None].post(f"{path}/deny", data={"reason": "unverified"})
    assert anonymous.status_code == 401

    # No token, a wrong one, or another site: 403.
    reviewer = console.clients[Role.REVIEWER]
    assert (await reviewer.post(f"{path}/deny", data={"reason": "unverified"})).status_code == 403
    forged = {"reason": "unverified", "csrf_token": "1." + "A" * 43}
    assert (await reviewer.post(f"{path}/deny", data=forged)).status_code == 403
    token = _token(await console.get(path))
    cross = await reviewer.post(
        f"{path}/deny",
        data={"reason": "unverified", "csrf_token": token},
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )
    assert cross.status_code == 403
    assert console.desk.store.get(rid).state is State.AWAITING_VERIFICATION

    # Unknown requests and tasks, and oversized forms, change nothing.
    assert (await console.get("/admin/requests/not-a-request")).status_code == 404
    assert (
        await console.get("/admin/requests/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12)
    ).status_code == 404
    assert (await console.act(rid, "tasks/99999", evidence="done")).status_code == 404
    huge = await console.act(rid, "notes", text="n" * 70_000)
    assert huge.status_code == 413
    long = await console.act(rid, "notes", text="ü" * 5001)
    assert long.status_code == 400
    assert "5000 at most" in long.text
    assert console.desk.notes(rid) == []


@pytest.mark.anyio
async def test_logging_refuses_bad_input_clearly_and_writes_nothing(console: Console) -> None:
    before = console.count()
    refused = await console.post(
        "/admin/requests/new",
        page="/admin/requests/new",
        kind="delete",
        channel="carrier pigeon",
        email="<script>alert(1)</script>",
        name="x" * 5000,
    )
    assert refused.status_code == 400
    assert "There is a problem" in refused.text
    assert "Choose how the request arrived" in refused.text
    assert 'href="#email"' in refused.text
    assert 'href="#name"' in refused.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in refused.text
    assert "<script>alert" not in refused.text
    web = await console.post(
        "/admin/requests/new",
        page="/admin/requests/new",
        kind="access",
        channel="web",
        email="fine@example.net",
    )
    assert web.status_code == 400  # web requests log themselves
    assert console.count() == before


@pytest.mark.anyio
async def test_the_exports(console: Console) -> None:
    denied = console.submit(Kind.ACCESS, "records@example.net")
    console.desk.deny(denied, actor="staff:1", reason=DenialReason.TOO_MANY)
    opt_out = console.submit(Kind.OPT_OUT_SALE, "optout@example.net")
    # The worker completes an opt-out on its own; let it finish before exporting.
    await _until(console, opt_out, lambda: console.desk.store.get(opt_out).state.final)

    records = await console.get("/admin/records.csv", Role.READ_ONLY)
    assert records.status_code == 200
    assert records.headers["content-type"] == "text/csv; charset=utf-8"
    assert records.headers["content-disposition"].startswith("attachment; filename=")
    assert records.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(records.text)))
    assert len(rows) == console.count() == 2
    by_nature = {r["nature"]: r for r in rows}
    assert by_nature["access"]["response"] == "denied"
    assert by_nature["access"]["denial_basis"] == "too_many"
    assert by_nature["access"]["manner"] == "web"
    assert by_nature["opt_out_sale"]["request_date"].startswith(str(console.desk.clock().year))
    assert by_nature["opt_out_sale"]["response"] == "completed"

    log = await console.get("/admin/audit.jsonl", Role.ADMIN)
    assert log.status_code == 200
    assert log.headers["content-disposition"].endswith('.jsonl"')
    assert log.headers["cache-control"] == "no-store"
    assert _verified(log.text) == sum(1 for _ in console.desk.store.audit.entries())
    assert "records@example.net" not in log.text  # the audit trail names no person
    actions = [json.loads(line)["action"] for line in log.text.splitlines()]
    assert "request.denied" in actions
    assert "staff.login" in actions
    # Both downloads are themselves in the trail: the records one before this export was read.
    assert "records.exported" in actions
    exports = [
        json.loads(e.body)["export"]
        for e in console.desk.store.audit.entries()
        if e.action == "records.exported"
    ]
    assert exports == ["requests", "audit"]
