"""The whole request journey in real headless Chromium, against the real service.

A person asks for a copy of their data on a phone-sized screen, confirms it is them
through the message the demo's outbox shows, answers the data points, waits for the
in-process runner to fulfil the request, downloads the package and opens it. Someone
else asks to have their data deleted; a reviewer signs in to the staff console,
approves it and completes the manual tasks. axe-core checks the new pages on the way.

The service runs with uvicorn on a free port, with its lifespan (job runner, mail
chores), over a small demo store in SQLite. ``tests/browser/journey.mjs`` drives
Chromium and reports what each step showed; the assertions, and the checks of the
service's own records and of the store's database, are here. Like the banner test, it
needs Node.js, Chromium from the OS and ``npm ci`` in ``tests/a11y``, and skips saying
what is missing; it never downloads a browser.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette

from covenant.demo.store import DemoStore, create
from covenant.requests.lifecycle import State
from covenant.settings import Settings
from covenant.web import create_app
from tests.test_consent_banner import _free_port
from tests.test_notice_a11y import FAILING, _requirements

BROWSER = Path(__file__).parent / "browser" / "journey.mjs"
SECRET = "journey-test-secret-0123456789abcdef0123456789"
REVIEWER = ("riley.reviewer", "correct horse battery staple 42")
EVIDENCE_TASK = re.compile(r"^Asked about .+; confirmed deleted, reference T-\d+\.$")


@dataclasses.dataclass(frozen=True)
class Person:
    id: int
    email: str
    points: dict[str, str]
    """The data points a person would type, by form field: card, ZIP, phone."""


@dataclasses.dataclass
class Live:
    url: str
    app: Starlette
    store: DemoStore
    access: Person
    deletion: Person
    before: dict[str, Any]
    """The deletion customer's rows in the store, read before the service started."""
    out: Path


def _people(store: DemoStore) -> list[Person]:
    """Two customers who have a card, a delivery address and a phone on record."""
    shop = sa.create_engine(store.database_url)
    try:
        with shop.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT c.id, c.email, c.phone, MIN(p.card_last4) AS card,"
                    " MIN(a.postal_code) AS zip FROM customers c"
                    " JOIN orders o ON o.customer_id = c.id JOIN payments p ON p.order_id = o.id"
                    " JOIN addresses a ON a.customer_id = c.id WHERE c.phone IS NOT NULL"
                    " GROUP BY c.id, c.email, c.phone ORDER BY c.id LIMIT 2"
                )
            ).all()
    finally:
        shop.dispose()
    return [
        Person(
            r.id,
            r.email,
            {"point_card_last4": r.card, "point_shipping_zip": r.zip, "point_phone": r.phone},
        )
        for r in rows
    ]


def _customer_rows(store: DemoStore, person: Person) -> dict[str, Any]:
    """What the store holds for ``person``: their account row and their addresses."""
    shop = sa.create_engine(store.database_url)
    try:
        with shop.connect() as conn:
            account = conn.execute(
                sa.text("SELECT email, phone, last_name FROM customers WHERE id = :id"),
                {"id": person.id},
            ).one_or_none()
            by_email = conn.execute(
                sa.text("SELECT count(*) FROM customers WHERE email = :e"), {"e": person.email}
            ).scalar_one()
            addresses = conn.execute(
                sa.text("SELECT count(*) FROM addresses WHERE customer_id = :id"),
                {"id": person.id},
            ).scalar_one()
    finally:
        shop.dispose()
    return {
        "account": account._asdict() if account is not None else None,
        "by_email": by_email,
        "addresses": addresses,
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The real service on a free port over a fresh demo store, with a reviewer account."""
    _requirements()  # skip before building anything when the browser cannot run
    root = tmp_path_factory.mktemp("journey")
    store = create(root / "store", customers=30, seed=23)
    access, deletion = _people(store)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        config=store.declaration,
        database_url=f"sqlite:///{root}/state.db",
        development=True,
        outbox_page=True,
        public_url=url,
        secret_key=SECRET,
    )
    with pytest.MonkeyPatch.context() as env:
        # The demo declaration's keyed-hash erasure reads its key from here.
        env.setenv("COVENANT_HASH_KEY", "journey-hash-key-0123456789abcdef")
        app = create_app(settings)
        app.state.services.open(app.state)
        app.state.staff.create(*REVIEWER, "reviewer")
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        ready = threading.Event()
        for _ in range(200):
            if server.started:
                ready.set()
                break
            ready.wait(0.05)
        assert ready.is_set(), "the service did not start"
        out = root / "browser"
        out.mkdir()
        try:
            yield Live(url, app, store, access, deletion, _customer_rows(store, deletion), out)
        finally:
            server.should_exit = True
            thread.join(timeout=15)


@pytest.fixture(scope="module")
def report(live: Live) -> dict[str, Any]:
    node, chromium = _requirements()
    given = {
        "access": dataclasses.asdict(live.access),
        "deletion": dataclasses.asdict(live.deletion),
        "reviewer": {"username": REVIEWER[0], "password": REVIEWER[1]},
        "out": str(live.out),
    }
    done = subprocess.run(
        [node, str(BROWSER), chromium, live.url],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def step(report: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = report[name]
    assert "failed" not in result, f"{result.get('failed')}\nWhat went wrong: {report['problems']}"
    return result


def state_of(live: Live, rid: str) -> State:
    state: State = live.app.state.desk.store.get(rid).state
    return state


def actions(live: Live, rid: str) -> list[str]:
    return [e.action for e in live.app.state.desk.store.audit.entries(subject_ref=rid)]


# ---- the consumer ------------------------------------------------------------------------


def test_browser_a_person_asks_for_a_copy_and_proves_it_is_them(
    report: dict[str, Any], live: Live
) -> None:
    seen = step(report, "access")
    assert seen["center"] == "Your privacy choices"
    assert seen["formUrl"] == "/privacy/request?kind=access"
    assert seen["preselected"], "the choice made on /privacy was not carried to the form"
    submitted = seen["submitted"]
    assert submitted["h1"] == "Your request for a copy of your personal information"
    assert submitted["state"] == "We are waiting for you to confirm it is you."
    assert "We sent a message with a code" in submitted["message"]
    assert "Confirm it is you" in submitted["h2"]
    # The mailed link opens this request's own page, with the mailed code filled in.
    assert seen["linkPath"] == submitted["path"]
    assert re.fullmatch(r"\d{8}", seen["mailedCode"] or "")
    assert seen["prefilled"] == seen["mailedCode"]
    assert seen["confirmed"]["message"] == "Thank you, your e-mail address is confirmed."
    assert "A few details to check it is you" in seen["confirmed"]["h2"]
    # A copy of specific pieces needs three points and a signed declaration (CCPA regs
    # §7062(c)); the declaration ticked on the request form counts.
    assert seen["checked"]["message"] == (
        "We verified your identity: 3 of the details you gave match what we hold,"
        " and you signed the declaration."
    )
    rid = seen["requestId"]
    passed = actions(live, rid)
    assert passed.index("verification.sent") < passed.index("verification.passed")


def test_browser_the_status_page_follows_the_request_to_completion(
    report: dict[str, Any], live: Live
) -> None:
    rid = step(report, "access")["requestId"]
    seen = step(report, "completion")
    assert seen["states"][-1] == "Your request is complete.", seen["states"]
    assert "Your copy" in seen["final"]["h2"]
    assert state_of(live, rid) is State.COMPLETED
    assert "request.completed" in actions(live, rid)


def test_browser_the_package_downloads_and_opens(report: dict[str, Any], live: Live) -> None:
    rid = step(report, "access")["requestId"]
    got = step(report, "download")
    assert got["failure"] is None
    assert got["linkPath"].startswith(f"/privacy/download/{rid}/")
    assert got["suggested"] == f"my-data-{rid[:8]}.zip"
    path = Path(got["path"])
    assert path.parent == live.out
    assert path.read_bytes()[:4] == b"PK\x03\x04"
    with zipfile.ZipFile(path) as package:
        assert package.testzip() is None
        names = set(package.namelist())
        assert {"README.txt", "data.json", "report.html", "categories.json"} <= names
        data = json.loads(package.read("data.json"))
    assert data["request_id"] == rid
    text = json.dumps(data)
    assert live.access.email in text
    assert live.deletion.email not in text  # someone else's data never leaks in
    assert "export.downloaded" in actions(live, rid)
    assert live.app.state.desk.delivered(rid).downloads == 1


def test_browser_the_packages_report_opens_in_the_browser(report: dict[str, Any]) -> None:
    opened = step(report, "report")
    assert opened["title"] == "Your personal data held by Resonance Audio"
    assert opened["lang"] == "en"
    assert opened["h1"] == ["Your personal data"]
    assert opened["text"].strip(), "the report rendered blank"


# ---- the staff console -------------------------------------------------------------------


def test_browser_a_deletion_waits_for_a_reviewer(report: dict[str, Any], live: Live) -> None:
    seen = step(report, "deletion")
    assert seen["formUrl"] == "/privacy/request?kind=delete"
    assert seen["preselected"]
    assert seen["prefilled"] == seen["mailedCode"]
    # Deleting sensitive data (voice recordings, locations) asks for three points (CCPA
    # regs §7062(d)), as the demo declares with ``sensitive_deletion``.
    assert seen["checked"]["message"] == (
        "We verified your identity: 3 of the details you gave match what we hold."
    )
    # Proven, then asked to confirm the deletion itself (CCPA regs §7022(d), seed P17).
    assert seen["askedToConfirm"]
    assert seen["checked"]["state"] == (
        "You have proved who you are. Confirm the deletion below to go ahead."
    )
    assert (
        seen["actionConfirmed"]["state"]
        == "You are verified. Our privacy team is reviewing the request."
    )
    console = step(report, "console")
    assert console["queueRow"] is not None, "the verified request is not in the queue"
    assert "Verified, waiting for approval" in console["queueRow"]
    assert console["before"]["State"] == "Verified, waiting for approval"
    assert console["before"]["Reference"] == seen["requestId"]
    # Nothing was erased before the approval: the rows were read before the service ran.
    assert live.before["by_email"] == 1
    assert live.before["addresses"] > 0


def test_browser_a_reviewer_approves_and_the_data_is_erased(
    report: dict[str, Any], live: Live
) -> None:
    rid = step(report, "deletion")["requestId"]
    console = step(report, "console")
    assert console["signedIn"].startswith("/admin")
    assert console["signedIn"] != "/admin/login"
    assert console["approved"] == "Approved. The request is being fulfilled."
    # The recipients the declaration names must be told by hand (CCPA §1798.105(c)).
    tasks = live.app.state.desk.tasks(rid)
    assert console["tasksListed"] == len(tasks) > 0
    assert [t["message"] for t in console["tasks"]] == ["Task marked done."] * len(tasks)
    assert all(t.done_at is not None for t in tasks)
    assert sorted(t.evidence for t in tasks) == sorted(t["evidence"] for t in console["tasks"])
    assert all(EVIDENCE_TASK.match(t.evidence) for t in tasks)
    reviewer = live.app.state.staff.find(REVIEWER[0])
    assert {t.done_by for t in tasks} == {reviewer.ref}
    assert console["after"]["State"] == "Completed"
    assert console["result"] == {
        "caption": "What the erasure did, per collection",
        "proof": "Re-reading the data proved the change.",
    }
    assert state_of(live, rid) is State.COMPLETED
    approved = [h for h in live.app.state.desk.store.history(rid) if h.target is State.IN_PROGRESS]
    assert [h.actor for h in approved] == [reviewer.ref]
    assert live.app.state.desk.result(rid)["verified"] is True

    after = _customer_rows(live.store, live.deletion)
    assert after["by_email"] == 0
    assert after["addresses"] == 0
    # The declaration keeps the emptied account row for the tax records; its personal
    # fields are gone.
    assert after["account"] == {"email": None, "phone": None, "last_name": None}
    untouched = _customer_rows(live.store, live.access)
    assert untouched["by_email"] == 1, "erasing one person touched another"


# ---- accessibility and the strict CSP ------------------------------------------------------


def test_browser_the_new_pages_pass_axe(report: dict[str, Any]) -> None:
    scanned = report["axe"]
    assert set(scanned) == {
        "privacy center",
        "request form",
        "status: code",
        "status: details",
        "console: queue",
        "console: request",
        "console: tasks",
    }
    assert scanned["console: queue"]["path"] == "/admin"  # signed in, not the sign-in page
    assert all(found["passes"] > 0 for found in scanned.values()), "axe did not run"
    bad = [
        f"{page}: {v['id']} ({v['impact']}): {v['help']} at {v['targets']}"
        for page, found in scanned.items()
        for v in found["violations"]
        if v["impact"] in FAILING
    ]
    assert not bad, "\n".join(bad)


def test_browser_no_page_broke_the_csp_or_threw(report: dict[str, Any]) -> None:
    for name in ("access", "completion", "download", "report", "deletion", "console"):
        step(report, name)  # every step ran, so every page was seen
    assert report["problems"] == []
