"""The IAB U.S. Privacy string: the pure rules, then the backend route over ASGI."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware

from covenant.consent.adtech import NOT_APPLICABLE, sale_topics, us_privacy
from covenant.consent.adtech_web import routes as adtech_routes
from covenant.consent.decisions import Decision, Policy
from covenant.consent.records import Topic
from covenant.consent.web import consent_state
from covenant.consent.web import routes as consent_routes
from covenant.declaration import Loaded, load
from covenant.errors import CovenantError
from covenant.notice.store import VersionStore
from covenant.settings import Settings
from covenant.web.app import covenant_error
from covenant.web.headers import SecurityHeaders
from tests.test_examples import AUDIO, MUSIC

API_KEY = "adtech-test-key-0123456789abcdef"
BACKEND = {"authorization": f"Bearer {API_KEY}"}
DEVICE = "dev-usp-0123456789"
ADS = Topic("category", "advertising")
ALLOWED = Decision(True, "default_opt_out", "No opt-out recorded (us-ca: opt-out).")
REFUSED = Decision(False, "gpc", "Global Privacy Control is on.")


# ---- the string, pure -------------------------------------------------------------------


def usp(**kwargs: object) -> str:
    args: dict[str, object] = {
        "jurisdiction": "us-ca",
        "declared": ["us-ca", "eu"],
        "statement_version": 3,
        "sale_decisions": [(ADS, ALLOWED)],
        **kwargs,
    }
    return us_privacy(**args).usp_string  # type: ignore[arg-type]


def test_the_four_positions_follow_the_iab_spec_v1() -> None:
    assert usp() == "1YNN"
    assert usp(sale_decisions=[(ADS, REFUSED)]) == "1YYN"
    assert usp(statement_version=None) == "1NNN"
    assert usp(lspa_covered=True, sale_decisions=[(ADS, REFUSED)]) == "1YYY"


def test_outside_a_us_jurisdiction_every_position_is_a_hyphen() -> None:
    assert usp(jurisdiction="eu") == NOT_APPLICABLE == "1---"
    assert usp(jurisdiction="uk", sale_decisions=[(ADS, REFUSED)]) == "1---"
    # A store that declares no U.S. jurisdiction is not under the CCPA at all.
    assert usp(declared=["eu", "uk"]) == "1---"
    # "us" is a U.S. visitor of unknown state: not determined to be outside California.
    assert usp(jurisdiction="us", declared=["us", "us-ca"]) == "1YNN"


def test_any_refused_sale_or_sharing_topic_is_an_opt_out_and_the_reason_says_which() -> None:
    other = Topic("purpose", "advertising")
    found = us_privacy(
        jurisdiction="us-ca",
        declared=["us-ca"],
        statement_version=2,
        sale_decisions=[(ADS, ALLOWED), (other, Decision(False, "withdrawn", "Withdrawn."))],
    )
    assert found.usp_string == "1YYN"
    assert "purpose:advertising refused (withdrawn)" in found.reason
    assert found.applies


@pytest.mark.parametrize("example", [AUDIO, MUSIC], ids=["audio", "music"])
def test_sale_topics_are_the_declared_sale_and_sharing_ones(example: Path) -> None:
    topics = sale_topics(Policy.from_declaration(load(example).declaration))
    assert ADS in topics
    assert Topic("purpose", "advertising") in topics
    assert Topic("purpose", "marketing") not in topics, "e-mail marketing is not a sale"


# ---- the route --------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def adtech_app(settings: Settings, loaded: Loaded) -> Starlette:
    """The consent API and these routes, with the headers and error rendering of the service."""
    app = Starlette(
        routes=[*consent_routes(), *adtech_routes()],
        middleware=[Middleware(SecurityHeaders, development=False)],
        exception_handlers={CovenantError: covenant_error},
    )
    app.state.settings = settings
    app.state.loaded = loaded
    app.state.consent = consent_state(settings, loaded)
    return app


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # Versions are published beside a copy's base folder, never into the example's own.
    loaded = dataclasses.replace(load(AUDIO), base_dir=tmp_path)
    VersionStore(tmp_path / "statement-versions").publish(
        loaded, dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    )
    app = adtech_app(Settings(config=AUDIO, database_url=db_url, api_key=API_KEY), loaded)
    app.state.consent.engine()  # what the lifespan does before a real server listens
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers=BACKEND
    ) as c:
        yield c
    app.state.consent.close()


async def ask(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    return await client.get("/api/v1/consent/usprivacy", params=params)


@pytest.mark.anyio
async def test_the_string_follows_the_ledger_and_the_gpc_header(client: httpx.AsyncClient) -> None:
    r = await ask(client, consent_id=DEVICE)
    assert r.status_code == 200, r.text
    assert r.json()["uspString"] == "1YNN"
    assert r.json()["jurisdiction"] == "us-ca"
    assert "statement version 1 is published" in r.json()["reason"]

    gpc = await client.get(
        "/api/v1/consent/usprivacy", params={"consent_id": DEVICE}, headers={"Sec-GPC": "1"}
    )
    assert gpc.json()["uspString"] == "1YYN"
    assert "(gpc)" in gpc.json()["reason"]

    opt_out = {
        "consent_id": DEVICE,
        "choices": [{"category": "advertising", "choice": "denied"}],
        "notice_version": "1",
        "method": "banner",
    }
    assert (await client.post("/api/v1/consent", json=opt_out)).status_code == 201
    assert (await ask(client, consent_id=DEVICE)).json()["uspString"] == "1YYN"
    # The device's opt-out never becomes another person's.
    assert (await ask(client, subject="someone-else")).json()["uspString"] == "1YNN"
    assert (await ask(client, consent_id=DEVICE, jurisdiction="eu")).json()["uspString"] == "1---"


@pytest.mark.anyio
async def test_a_person_who_opted_out_reads_y_once_the_device_is_linked(
    client: httpx.AsyncClient,
) -> None:
    grant = {
        "subject": "p-1",
        "choices": [{"purpose": "advertising", "choice": "withdrawn"}],
        "notice_version": "1",
        "method": "form",
    }
    assert (await client.post("/api/v1/consent", json=grant)).status_code == 201
    assert (await ask(client, subject="p-1")).json()["uspString"] == "1YYN"
    link = {"subject": "p-1", "consent_id": DEVICE, "method": "sign_in"}
    assert (await client.post("/api/v1/consent/link", json=link)).status_code == 201
    assert (await ask(client, consent_id=DEVICE)).json()["uspString"] == "1YYN"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 400),
        ({"subject": "x" * 300}, 400),
        ({"subject": "<script>alert(1)</script>", "jurisdiction": "mars!"}, 400),
        ({"consent_id": "bad id"}, 400),
    ],
)
async def test_bad_questions_are_refused(
    client: httpx.AsyncClient, params: dict[str, str], status: int
) -> None:
    r = await ask(client, **params)
    assert r.status_code == status
    assert "<script>" not in r.text


@pytest.mark.anyio
async def test_only_the_backend_may_ask(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/api/v1/consent/usprivacy",
        params={"subject": "p-1"},
        headers={"authorization": "Bearer wrong"},
    )
    assert r.status_code == 401
