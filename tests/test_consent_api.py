"""The consent API over ASGI, in process: record, decide, receipt, gpc.json, and bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from covenant.consent.ledger import consent_records
from covenant.consent.web import lifespan
from covenant.settings import Settings
from covenant.web import create_app
from covenant.web.bodies import BODY_LIMIT

AUDIO = Path(__file__).parent.parent / "examples" / "audio-store" / "covenant.yml"
DEVICE = "dev-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


API_KEY = "test-api-key-0123456789abcdef"
BACKEND = {"authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The store's backend: it holds the API key."""
    app = create_app(Settings(config=AUDIO, database_url=db_url, api_key=API_KEY))
    app.state.consent.engine()  # what the lifespan does before a real server listens
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers=BACKEND
    ) as c:
        yield c
    app.state.consent.close()


def count(db_url: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(consent_records)) or 0)
    finally:
        engine.dispose()


def body(**extra: object) -> dict[str, object]:
    return {
        "subject": "s-1",
        "choices": [{"purpose": "marketing", "choice": "granted"}],
        "notice_version": "2026-01-15",
        "method": "sign_up",
        "jurisdiction": "eu",
        "evidence": {"form": "sign_up", "checkbox": "newsletter"},
        **extra,
    }


@pytest.mark.anyio
async def test_a_choice_is_recorded_and_decides_the_next_question(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/api/v1/consent", json=body())
    assert r.status_code == 201, r.text
    (written,) = r.json()["recorded"]
    assert written["topic"] == "purpose:marketing"
    answer = await client.get(
        "/api/v1/consent/decision", params={"subject": "s-1", "purpose": "marketing"}
    )
    assert answer.json()["allowed"] is True
    assert answer.json()["record"] == written["seq"]
    mail = await client.get("/api/v1/consent/email", params={"subject": "s-1"})
    assert mail.json()["allowed"] is True

    withdraw = body(choices=[{"purpose": "marketing", "choice": "withdrawn"}], method="form")
    assert (await client.post("/api/v1/consent", json=withdraw)).status_code == 201
    mail = await client.get("/api/v1/consent/email", params={"subject": "s-1"})
    assert (mail.json()["allowed"], mail.json()["basis"]) == (False, "withdrawn")


@pytest.mark.anyio
async def test_a_contest_entry_may_grant_marketing_and_says_so(
    client: httpx.AsyncClient,
) -> None:
    # Seed H11: a contest or survey entry may ask permission to send marketing.
    entry = body(subject="entrant-7", method="contest", evidence={"form": "spring_contest"})
    r = await client.post("/api/v1/consent", json=entry)
    assert r.status_code == 201, r.text
    (written,) = r.json()["recorded"]
    assert written["method"] == "contest"
    mail = await client.get("/api/v1/consent/email", params={"subject": "entrant-7"})
    assert mail.json()["allowed"] is True
    receipt = await client.get("/api/v1/consent/receipt", params={"subject": "entrant-7"})
    assert "contest" in receipt.text


@pytest.mark.anyio
async def test_decisions_answer_with_a_reason_and_the_default_jurisdiction(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(
        "/api/v1/consent/decision", params={"consent_id": DEVICE, "category": "analytics"}
    )
    assert r.status_code == 200
    # The audio store's first jurisdiction is us-ca: opt-out.
    assert r.json() == {
        "allowed": True,
        "basis": "default_opt_out",
        "reason": "No opt-out recorded (us-ca: opt-out).",
        "record": None,
        "topic": "category:analytics",
        "jurisdiction": "us-ca",
    }
    eu = await client.get(
        "/api/v1/consent/decision",
        params={"consent_id": DEVICE, "category": "analytics", "jurisdiction": "eu"},
    )
    assert eu.json()["allowed"] is False


@pytest.mark.anyio
async def test_the_gpc_header_is_honoured_and_recorded_as_method_gpc(
    client: httpx.AsyncClient, db_url: str
) -> None:
    banner = {
        "consent_id": DEVICE,
        "choices": [
            {"category": "analytics", "choice": "granted"},
            {"category": "advertising", "choice": "granted"},
        ],
        "notice_version": "2026-01-15",
        "method": "banner",
        "jurisdiction": "us-ca",
    }
    r = await client.post("/api/v1/consent", json=banner, headers={"Sec-GPC": "1"})
    assert r.status_code == 201
    assert r.json()["gpc_honoured"] is True
    gpc = [w for w in r.json()["recorded"] if w["method"] == "gpc"]
    assert {w["topic"] for w in gpc} == {"category:advertising", "purpose:advertising"}
    assert {w["choice"] for w in gpc} == {"denied"}
    ads = await client.get(
        "/api/v1/consent/decision", params={"consent_id": DEVICE, "category": "advertising"}
    )
    assert ads.json()["allowed"] is False
    # With the header on the question itself, the signal is the reason.
    asked = await client.get(
        "/api/v1/consent/decision",
        params={"consent_id": DEVICE, "purpose": "advertising"},
        headers={"Sec-GPC": "1"},
    )
    assert asked.json()["basis"] == "gpc"
    # Any other value is as if the header were absent (GPC spec §3.3).
    before = count(db_url)
    other = await client.post(
        "/api/v1/consent",
        json={**banner, "consent_id": "dev-other-device-1"},
        headers={"Sec-GPC": "true"},
    )
    assert other.json()["gpc_honoured"] is False
    assert count(db_url) == before + 2


@pytest.mark.anyio
async def test_a_device_is_linked_at_sign_in_and_a_receipt_downloads(
    client: httpx.AsyncClient,
) -> None:
    banner = {
        "consent_id": DEVICE,
        "choices": [{"category": "analytics", "choice": "granted"}],
        "notice_version": "2026-01-15",
        "method": "banner",
        "jurisdiction": "eu",
    }
    assert (await client.post("/api/v1/consent", json=banner)).status_code == 201
    link = {"subject": "s-9", "consent_id": DEVICE, "method": "sign_in", "jurisdiction": "eu"}
    assert (await client.post("/api/v1/consent/link", json=link)).status_code == 201
    answer = await client.get(
        "/api/v1/consent/decision",
        params={"subject": "s-9", "category": "analytics", "jurisdiction": "eu"},
    )
    assert answer.json()["allowed"] is True
    r = await client.get("/api/v1/consent/receipt", params={"subject": "s-9"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert "attachment" in r.headers["content-disposition"]
    receipt = r.json()
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["piiPrincipalId"] == "s-9"
    missing = await client.get("/api/v1/consent/receipt", params={"subject": "nobody"})
    assert missing.status_code == 404


@pytest.mark.anyio
async def test_a_known_minor_is_refused_marketing_consent(client: httpx.AsyncClient) -> None:
    flag = {"subject": "s-young", "method": "sign_up", "evidence": {"gate": "age_question"}}
    assert (await client.post("/api/v1/consent/minor", json=flag)).status_code == 201
    r = await client.post("/api/v1/consent", json=body(subject="s-young"))
    assert r.status_code == 409
    assert "16" in r.text


@pytest.mark.anyio
async def test_gpc_json_is_served_as_the_spec_describes(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/gpc.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"gpc": True, "lastUpdate": "2026-01-15"}


BAD = [
    pytest.param(b'{"subject": "s-1", ', "invalid request body", id="malformed-json"),
    pytest.param(b"[]", "invalid request body", id="not-an-object"),
    pytest.param(
        json.dumps(body(choices=[{"purpose": "no_such", "choice": "granted"}])).encode(),
        "not a declared purpose",
        id="unknown-purpose",
    ),
    pytest.param(
        json.dumps(body(choices=[{"purpose": "marketing", "choice": "maybe"}])).encode(),
        "choice",
        id="unknown-choice",
    ),
    pytest.param(
        json.dumps(
            body(choices=[{"purpose": "marketing", "category": "analytics", "choice": "granted"}])
        ).encode(),
        "either purpose or category",
        id="two-topics",
    ),
    pytest.param(json.dumps(body(subject=None)).encode(), "subject, a consent_id", id="nobody"),
    pytest.param(json.dumps(body(extra="x")).encode(), "extra", id="unknown-field"),
    pytest.param(json.dumps(body(jurisdiction="mars")).encode(), "jurisdiction", id="jurisdiction"),
    pytest.param(json.dumps(body(method="gpc")).encode(), "Sec-GPC", id="gpc-without-header"),
    pytest.param(
        json.dumps(body(evidence={"email": "ana@example.com"})).encode(),
        "personal data",
        id="personal-evidence",
    ),
    pytest.param(json.dumps(body(consent_id="short")).encode(), "consent_id", id="bad-consent-id"),
    pytest.param(json.dumps(body(subject="x" * 129)).encode(), "subject", id="long-subject"),
    pytest.param(b'{"subject": "\xff\xfe"}', "invalid request body", id="not-utf8"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("payload", "message"), BAD)
async def test_bad_input_is_refused_with_400_and_changes_nothing(
    client: httpx.AsyncClient, db_url: str, payload: bytes, message: str
) -> None:
    r = await client.post(
        "/api/v1/consent", content=payload, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert message in r.text
    assert count(db_url) == 0


@pytest.mark.anyio
async def test_a_body_over_64_kib_is_refused_unread(client: httpx.AsyncClient, db_url: str) -> None:
    huge = json.dumps(body(notice_version="v" * (BODY_LIMIT + 1))).encode()
    r = await client.post(
        "/api/v1/consent", content=huge, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the cap is enforced while reading.
        for _ in range(80):
            yield b" " * 1024

    r = await client.post(
        "/api/v1/consent", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert count(db_url) == 0


@pytest.mark.anyio
async def test_only_json_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/consent", data={"subject": "s-1"})
    assert r.status_code == 415


@pytest.mark.anyio
async def test_unicode_subjects_round_trip_through_the_api(client: httpx.AsyncClient) -> None:
    ref = "zoë-名前-👩\u200d💻"
    r = await client.post("/api/v1/consent", json=body(subject=ref))
    assert r.status_code == 201
    answer = await client.get("/api/v1/consent/email", params={"subject": ref})
    assert answer.json()["allowed"] is True


@pytest.mark.anyio
@pytest.mark.parametrize(
    "params",
    [
        {"subject": "s-1"},
        {"subject": "s-1", "purpose": "marketing", "category": "analytics"},
        {"purpose": "marketing"},
        {"subject": "s-1", "purpose": "Marketing"},
        {"subject": "s-1", "category": "pixels"},
        {"subject": "s-1", "purpose": "nope"},
        {"subject": "s-1", "purpose": "marketing", "jurisdiction": "earth"},
    ],
)
async def test_bad_questions_get_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    r = await client.get("/api/v1/consent/decision", params=params)
    assert r.status_code == 400, r.text


@pytest.mark.anyio
async def test_the_database_is_opened_and_migrated_before_the_server_listens(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    app = create_app(Settings(config=AUDIO, database_url=url))
    assert not (tmp_path / "state.db").exists()  # building the app touches nothing
    async with lifespan(app):  # what uvicorn runs before it accepts connections
        assert (tmp_path / "state.db").exists()
        assert count(url) == 0
    assert app.state.consent._engine is None  # closed at shutdown


@pytest.mark.anyio
async def test_without_a_lifespan_the_database_opens_on_first_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    app = create_app(Settings(config=AUDIO, database_url=url, api_key=API_KEY))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers=BACKEND
    ) as c:
        r = await c.post("/api/v1/consent", json=body())
    app.state.consent.close()
    assert r.status_code == 201
    assert count(url) == 1


def test_by_default_the_database_sits_beside_the_declaration() -> None:
    app = create_app(Settings(config=AUDIO))
    assert app.state.consent.url.database == str(AUDIO.resolve().parent / "covenant-state.db")


@pytest.mark.anyio
async def test_only_the_backend_may_name_a_person_or_read_their_choices(
    client: httpx.AsyncClient,
) -> None:
    # The same app, reached without the key (a browser, or anyone else).
    transport = client._transport
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as anyone:
        assert (await anyone.post("/api/v1/consent", json=body())).status_code == 401
        for path in (
            "/api/v1/consent/decision",
            "/api/v1/consent/email",
            "/api/v1/consent/receipt",
        ):
            r = await anyone.get(path, params={"subject": "s-1", "purpose": "marketing"})
            assert r.status_code == 401
        wrong = {"authorization": "Bearer not-the-key"}
        r = await anyone.get("/api/v1/consent/email", params={"subject": "s-1"}, headers=wrong)
        assert r.status_code == 401
        # The banner records its own device's choices without a key.
        banner = {
            "consent_id": DEVICE,
            "choices": [{"category": "analytics", "choice": "denied"}],
            "notice_version": "2026-01-15",
            "method": "banner",
            "jurisdiction": "eu",
        }
        assert (await anyone.post("/api/v1/consent", json=banner)).status_code == 201


@pytest.mark.anyio
async def test_without_an_api_key_configured_the_person_api_is_off(db_url: str) -> None:
    app = create_app(Settings(config=AUDIO, database_url=db_url))
    app.state.consent.engine()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        r = await c.get("/api/v1/consent/email", params={"subject": "s-1"})
    app.state.consent.close()
    assert r.status_code == 403
    assert "COVENANT_API_KEY" in r.text
