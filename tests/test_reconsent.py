"""Re-consent at sign-in after a material statement change (seed P23): rules, then routes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from covenant.consent.decisions import Policy
from covenant.consent.ledger import consent_records
from covenant.consent.reconsent import (
    ACKNOWLEDGED,
    NothingPublished,
    StatementChanged,
    accepted_version,
    answer_choices,
    check_version,
    login_check,
)
from covenant.consent.records import (
    Choice,
    ConsentError,
    ConsentRecord,
    Draft,
    Kind,
    Method,
    Topic,
)
from covenant.declaration import Loaded, load
from covenant.notice.store import VersionStore
from covenant.notice.versions import Change, Version
from covenant.settings import Settings
from tests.test_adtech import API_KEY, BACKEND, adtech_app
from tests.test_examples import AUDIO, variant

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
MARKETING = Topic("purpose", "marketing")
ADVERTISING = Topic("purpose", "advertising")
ANALYTICS = Topic("category", "analytics")


def rec(
    seq: int,
    topic: Topic | None,
    choice: Choice | None,
    version: str,
    *,
    subject: str | None = "p-1",
    device: str | None = None,
    kind: Kind = Kind.CHOICE,
) -> ConsentRecord:
    draft = Draft(
        kind=kind,
        method=Method.FORM,
        jurisdiction="us-ca",
        subject_ref=subject,
        consent_id=device,
        topic=topic,
        choice=choice,
        notice_version=version,
    )
    return ConsentRecord(seq=seq, at=T0 + dt.timedelta(minutes=seq), draft=draft)


def version(number: int, material: bool, changes: tuple[str, ...] = ()) -> Version:
    return Version(
        number=number,
        effective_date=f"2026-0{number}-01",
        published_at=f"2026-0{number}-01T00:00:00+00:00",
        digest=str(number),
        material=material,
        changes=tuple(Change(t, material) for t in changes),
        snapshot={},
    )


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.from_declaration(load(AUDIO).declaration)


# ---- which version a person accepted, and whether to ask again ---------------------------


def test_the_newest_own_choice_gives_the_accepted_version() -> None:
    records = [rec(1, MARKETING, Choice.GRANTED, "1"), rec(2, ANALYTICS, Choice.DENIED, "2")]
    assert accepted_version(records, "p-1") == 2
    # Before any publication the banner cites a date: older than every version.
    assert accepted_version([rec(1, MARKETING, Choice.GRANTED, "2026-01-15")], "p-1") is None
    # A choice made on a device before it was tied to this person is not theirs.
    anonymous = rec(3, ANALYTICS, Choice.GRANTED, "3", subject=None, device="dev-00000001")
    assert accepted_version([*records, anonymous], "p-1") == 2
    assert accepted_version([], "p-1") is None


def test_ask_again_only_after_a_material_change_the_person_has_not_seen() -> None:
    versions = [
        version(1, False, ("first published version",)),
        version(2, True, ("added category: precise location",)),
        version(3, False, ("retention rule 'orders' changed",)),
    ]
    before = [rec(1, MARKETING, Choice.GRANTED, "1")]
    found = login_check(before, "p-1", versions, asks_again=True)
    assert found.reconsent_needed
    assert (found.statement_version, found.accepted_version) == (3, 1)
    assert "added category: precise location" in found.changes
    assert "first published version" not in found.changes

    after = [rec(1, MARKETING, Choice.GRANTED, "2")]
    assert not login_check(after, "p-1", versions, asks_again=True).reconsent_needed
    assert login_check([], "p-1", versions, asks_again=True).reconsent_needed

    off = login_check(before, "p-1", versions, asks_again=False)
    assert not off.reconsent_needed
    assert "reconsent_on_material_change" in off.reason
    assert off.changes == ()
    minor_only = [version(1, False), version(2, False)]
    assert not login_check(before, "p-1", minor_only, asks_again=True).reconsent_needed


def test_an_answer_must_be_about_the_latest_version() -> None:
    versions = [version(1, False), version(2, True)]
    check_version(2, versions)
    with pytest.raises(StatementChanged):
        check_version(1, versions)
    with pytest.raises(NothingPublished):
        check_version(1, [])


# ---- what an answer writes ----------------------------------------------------------------


def test_accepting_renews_standing_grants_and_never_grants_anything_new(policy: Policy) -> None:
    history = [
        rec(1, MARKETING, Choice.GRANTED, "1"),
        rec(2, ADVERTISING, Choice.GRANTED, "1"),
        rec(3, ADVERTISING, Choice.WITHDRAWN, "1"),
    ]
    written = answer_choices(history, policy=policy, jurisdiction="us-ca", accepted=True)
    assert written == [(MARKETING, Choice.GRANTED)], "a withdrawn grant is not renewed"
    asked = [(ANALYTICS, Choice.DENIED)]
    both = answer_choices(history, policy=policy, jurisdiction="us-ca", accepted=True, asked=asked)
    assert both == [(MARKETING, Choice.GRANTED), (ANALYTICS, Choice.DENIED)]


def test_accepting_with_nothing_to_renew_is_still_on_record(policy: Policy) -> None:
    written = answer_choices([], policy=policy, jurisdiction="us-ca", accepted=True)
    assert written == [(ACKNOWLEDGED, Choice.GRANTED)]
    assert policy.nature(ACKNOWLEDGED).value == "necessary", "the marker changes no decision"


def test_a_known_minors_old_grant_is_not_renewed(policy: Policy) -> None:
    history = [
        rec(1, MARKETING, Choice.GRANTED, "1"),
        rec(2, None, None, "", kind=Kind.MINOR),
    ]
    written = answer_choices(history, policy=policy, jurisdiction="us-ca", accepted=True)
    assert written == [(ACKNOWLEDGED, Choice.GRANTED)]


def test_declining_withdraws_grants_and_refuses_the_rest(policy: Policy) -> None:
    history = [rec(1, MARKETING, Choice.GRANTED, "1")]
    written = dict(answer_choices(history, policy=policy, jurisdiction="us-ca", accepted=False))
    assert written[MARKETING] is Choice.WITHDRAWN
    assert written[ADVERTISING] is Choice.DENIED
    assert written[ANALYTICS] is Choice.DENIED
    assert Topic("purpose", "orders") not in written, "necessary purposes need no consent"
    assert Topic("category", "strictly_necessary") not in written
    with pytest.raises(ConsentError):
        answer_choices(
            history,
            policy=policy,
            jurisdiction="us-ca",
            accepted=False,
            asked=[(ANALYTICS, Choice.GRANTED)],
        )


# ---- the routes -----------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def published(tmp_path: Path) -> Loaded:
    """Version 1 of the audio store's statement, then version 2 adding a category (material)."""
    store = VersionStore(tmp_path / "statement-versions")
    first = dataclasses.replace(load(AUDIO), base_dir=tmp_path)
    store.publish(first, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))

    def add(d: dict[str, Any]) -> None:
        d["organization"]["effective_date"] = "2026-03-01"
        d["sources"][0]["categories"] = ["user.location.imprecise"]

    second = dataclasses.replace(variant(tmp_path / "v2", AUDIO, add), base_dir=tmp_path)
    found = store.publish(second, dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert found is not None
    assert found.version.material
    return second


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    loaded = published(tmp_path)
    app = adtech_app(Settings(config=AUDIO, database_url=db_url, api_key=API_KEY), loaded)
    app.state.consent.engine()  # what the lifespan does before a real server listens
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers=BACKEND
    ) as c:
        yield c
    app.state.consent.close()


async def consented_on_version_1(client: httpx.AsyncClient) -> None:
    body = {
        "subject": "p-1",
        "choices": [{"purpose": "marketing", "choice": "granted"}],
        "notice_version": "1",
        "method": "sign_up",
    }
    assert (await client.post("/api/v1/consent", json=body)).status_code == 201


async def login_check_of(client: httpx.AsyncClient, subject: str = "p-1") -> dict[str, Any]:
    r = await client.get("/api/v1/consent/login-check", params={"subject": subject})
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def rows(db_url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            got = conn.execute(sa.select(consent_records).order_by(consent_records.c.seq))
            return [dict(r._mapping) for r in got]
    finally:
        engine.dispose()


@pytest.mark.anyio
async def test_login_asks_again_then_records_the_acceptance(
    client: httpx.AsyncClient, db_url: str
) -> None:
    await consented_on_version_1(client)
    check = await login_check_of(client)
    assert check["reconsent_needed"] is True
    assert (check["statement_version"], check["accepted_version"]) == (2, 1)
    assert "added category: approximate location" in check["changes"]

    answer = {"subject": "p-1", "statement_version": 2, "accepted": True}
    r = await client.post("/api/v1/consent/login-answer", json=answer)
    assert r.status_code == 201, r.text
    assert r.json()["recorded"] == [
        {
            "seq": r.json()["recorded"][0]["seq"],
            "topic": "purpose:marketing",
            "choice": "granted",
            "method": "sign_in",
            "notice_version": "2",
        }
    ]
    last = rows(db_url)[-1]
    assert (last["method"], last["notice_version"]) == ("sign_in", "2")
    assert json.loads(last["evidence"]) == {"answer": "accepted", "reconsent": True}
    assert (await login_check_of(client))["reconsent_needed"] is False


@pytest.mark.anyio
async def test_a_declined_statement_is_recorded_as_refusals(
    client: httpx.AsyncClient, db_url: str
) -> None:
    await consented_on_version_1(client)
    answer = {"subject": "p-1", "statement_version": 2, "accepted": False}
    r = await client.post("/api/v1/consent/login-answer", json=answer)
    assert r.status_code == 201, r.text
    written = {w["topic"]: w["choice"] for w in r.json()["recorded"]}
    assert written["purpose:marketing"] == "withdrawn"
    assert written["category:advertising"] == "denied"
    assert (await login_check_of(client))["reconsent_needed"] is False
    mail = await client.get("/api/v1/consent/email", params={"subject": "p-1"})
    assert (mail.json()["allowed"], mail.json()["basis"]) == (False, "withdrawn")
    assert {r["notice_version"] for r in rows(db_url)[1:]} == {"2"}


@pytest.mark.anyio
async def test_a_new_person_is_asked_and_an_answer_for_an_old_page_is_refused(
    client: httpx.AsyncClient, db_url: str
) -> None:
    assert (await login_check_of(client, "newcomer"))["reconsent_needed"] is True
    stale = {"subject": "newcomer", "statement_version": 1, "accepted": True}
    r = await client.post("/api/v1/consent/login-answer", json=stale)
    assert r.status_code == 409
    assert rows(db_url) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"subject": "p-1", "statement_version": 2}, 400),
        ({"subject": "p-1", "statement_version": 2, "accepted": "yes please"}, 400),
        ({"subject": "x" * 500, "statement_version": 2, "accepted": True}, 400),
        ({"subject": "p-1", "statement_version": -1, "accepted": True}, 400),
        (
            {
                "subject": "p-1",
                "statement_version": 2,
                "accepted": True,
                "evidence": {"page": "ana@example.com"},
            },
            400,
        ),
        (
            {
                "subject": "p-1",
                "statement_version": 2,
                "accepted": False,
                "choices": [{"purpose": "marketing", "choice": "granted"}],
            },
            400,
        ),
        (
            {
                "subject": "<script>alert(1)</script>",
                "statement_version": 2,
                "accepted": True,
                "choices": [{"purpose": "no_such_purpose", "choice": "granted"}],
            },
            400,
        ),
        ({"subject": "p-1", "statement_version": 2, "accepted": True, "pad": "x" * 70_000}, 413),
    ],
)
async def test_hostile_answers_change_nothing(
    client: httpx.AsyncClient, db_url: str, body: dict[str, Any], status: int
) -> None:
    r = await client.post("/api/v1/consent/login-answer", json=body)
    assert r.status_code == status, r.text
    assert "<script>" not in r.text
    assert rows(db_url) == []


@pytest.mark.anyio
async def test_only_the_backend_may_check_or_answer(client: httpx.AsyncClient) -> None:
    anonymous = {"authorization": ""}
    check = await client.get(
        "/api/v1/consent/login-check", params={"subject": "p-1"}, headers=anonymous
    )
    assert check.status_code == 401
    answer = {"subject": "p-1", "statement_version": 2, "accepted": True}
    r = await client.post("/api/v1/consent/login-answer", json=answer, headers=anonymous)
    assert r.status_code == 401
