"""The request API: scoped tokens, submitting and reading requests, the OpenAPI document.

Tokens are checked on every backend; the HTTP tests drive a small app with
the API's routes, the consent API's and the security headers, over ASGI in
process, on a real desk (its own database, keys and outbox).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from typer.testing import CliRunner

from covenant.api import cli
from covenant.api.models import (
    ConsentDecision,
    ConsentRecorded,
    ConsentWritten,
    RequestIn,
)
from covenant.api.openapi import document
from covenant.api.scopes import Scope, UnknownScope, parse_scopes
from covenant.api.tables import api_tokens
from covenant.api.tokens import (
    TOKEN,
    ApiTokens,
    BadTokenName,
    NoSuchToken,
    TokenNameTaken,
    digest,
)
from covenant.api.web import routes as api_routes
from covenant.audit import AuditLog
from covenant.consent.web import consent_state
from covenant.consent.web import routes as consent_routes
from covenant.db import connect
from covenant.declaration import load
from covenant.desk.build import desk_from_settings
from covenant.desk.intake import Submission
from covenant.desk.service import Desk
from covenant.migrations import upgrade
from covenant.requests.lifecycle import State
from covenant.requests.tables import requests
from covenant.requests.verification import mint_token
from covenant.settings import Settings
from covenant.web import create_app
from covenant.web.bodies import BODY_LIMIT
from covenant.web.headers import SecurityHeaders

AUDIO = Path(__file__).parent.parent / "examples" / "audio-store" / "covenant.yml"
BASE = "https://covenant.test"
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
EVERY = frozenset(Scope)
API_KEY = "test-api-key-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- Tokens, on every backend ---------------------------------------------------------


@pytest.fixture
def tokens(db_url: str) -> Iterator[ApiTokens]:
    url = sa.make_url(db_url)
    upgrade(url)
    engine = connect(url)
    yield ApiTokens(engine, audit=AuditLog(engine))
    engine.dispose()


def test_a_token_is_made_checked_and_revoked(tokens: ApiTokens) -> None:
    secret, made = tokens.create("Shop-Backend", frozenset({Scope.REQUESTS_WRITE}), now=T0)
    assert TOKEN.fullmatch(secret)
    assert made.name == "shop-backend"
    assert made.actor == "api:shop-backend"
    assert made.shown == f"cov_{secret[4:12]}…"

    found = tokens.verify(secret, now=T0)
    assert found is not None
    assert found.id == made.id
    assert found.scopes == {Scope.REQUESTS_WRITE}

    # Only the hash is kept: no column holds the token or its random part.
    with tokens.engine.connect() as conn:
        (row,) = conn.execute(sa.select(api_tokens)).all()
    assert row.token_hash == digest(secret)
    assert not any(secret[4:] in str(value) for value in row)

    revoked = tokens.revoke("shop-backend", now=T0 + dt.timedelta(hours=1))
    assert revoked.revoked_at == T0 + dt.timedelta(hours=1)
    assert tokens.verify(secret, now=T0 + dt.timedelta(hours=2)) is None
    assert tokens.revoke("shop-backend", now=T0 + dt.timedelta(hours=3)) == revoked

    audit = tokens.audit
    assert audit is not None
    trail = [(e.action, e.actor, e.subject_ref) for e in audit.entries()]
    assert trail == [
        ("api.token_created", "system", made.ref),
        ("api.token_revoked", "system", made.ref),
    ]
    assert audit.verify().ok


def test_names_are_unique_even_after_revoking(tokens: ApiTokens) -> None:
    tokens.create("shop", EVERY, now=T0)
    with pytest.raises(TokenNameTaken):
        tokens.create("SHOP", EVERY, now=T0)
    tokens.revoke("shop", now=T0)
    with pytest.raises(TokenNameTaken):
        tokens.create("shop", EVERY, now=T0)
    with pytest.raises(NoSuchToken):
        tokens.revoke("nobody", now=T0)
    assert [t.name for t in tokens.all()] == ["shop"]


def test_last_use_is_written_at_most_once_a_minute(tokens: ApiTokens) -> None:
    secret, _ = tokens.create("shop", EVERY, now=T0)

    def last_used() -> dt.datetime | None:
        found = tokens.find("shop")
        assert found is not None
        return found.last_used_at

    assert last_used() is None
    tokens.verify(secret, now=T0)
    assert last_used() == T0
    tokens.verify(secret, now=T0 + dt.timedelta(seconds=59))
    assert last_used() == T0
    tokens.verify(secret, now=T0 + dt.timedelta(seconds=61))
    assert last_used() == T0 + dt.timedelta(seconds=61)


@pytest.mark.parametrize(
    "name",
    ["", " ", "a" * 49, "shop backend", "ana@example.com", "<script>", "shöp", "-shop", "api:x"],
)
def test_a_bad_name_is_refused(name: str) -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(BadTokenName):
        ApiTokens(engine, audit=AuditLog(engine)).create(name, EVERY, now=T0)


def test_scopes_are_named_exactly() -> None:
    assert parse_scopes(["requests:write", " REQUESTS:READ "]) == {
        Scope.REQUESTS_WRITE,
        Scope.REQUESTS_READ,
    }
    for bad in (["requests:*"], ["admin"], [], ["requests:write", "x" * 10_000]):
        with pytest.raises(UnknownScope):
            parse_scopes(bad)


def test_a_malformed_token_is_refused_before_the_database(tokens: ApiTokens) -> None:
    secret, _ = tokens.create("shop", EVERY, now=T0)
    near = [
        "",
        secret + "x",
        secret[:-1],
        secret.replace("cov_", "COV_"),
        secret[:-1] + "\u00e9",
        "cov_" + "A" * 43,  # the right shape, but no such token
        "x" * 100_000,
    ]
    assert all(tokens.verify(t, now=T0) is None for t in near)


# --- The API over HTTP -----------------------------------------------------------------


class Api:
    def __init__(self, app: Starlette, client: httpx.AsyncClient, tokens: ApiTokens) -> None:
        self.app = app
        self.client = client
        self.tokens = tokens

    @property
    def desk(self) -> Desk:
        desk: Desk = self.app.state.desk
        return desk

    def token(self, name: str, *scopes: Scope) -> dict[str, str]:
        secret, _ = self.tokens.create(name, frozenset(scopes), now=self.desk.clock())
        return {"authorization": f"Bearer {secret}"}

    def count(self) -> int:
        with self.desk.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(requests)) or 0)

    async def submit(self, headers: dict[str, str], **body: object) -> httpx.Response:
        return await self.client.post("/api/v1/requests", json=body, headers=headers)


def _app(settings: Settings) -> Starlette:
    """The API's routes and the consent API's, as ``create_app`` mounts them."""
    loaded = load(settings.config)
    desk = desk_from_settings(settings, loaded=loaded)
    upgrade(desk.engine.url)
    app = Starlette(
        routes=[*api_routes(), *consent_routes()],
        middleware=[Middleware(SecurityHeaders, development=False)],
    )
    app.state.settings = settings
    app.state.loaded = loaded
    app.state.desk = desk
    app.state.keys = desk.keys
    app.state.consent = consent_state(settings, loaded)
    return app


async def _serve(settings: Settings) -> AsyncIterator[Api]:
    app = _app(settings)
    desk: Desk = app.state.desk
    tokens = ApiTokens(desk.engine, audit=desk.store.audit)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield Api(app, client, tokens)
    app.state.consent.close()
    desk.close()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(
        config=AUDIO,
        database_url=f"sqlite:///{tmp_path}/state.db",
        public_url=BASE,
        api_key=API_KEY,
    )
    async for served in _serve(settings):
        yield served


@pytest.fixture
async def api_on(db_url: str) -> AsyncIterator[Api]:
    """The API on each backend's database."""
    settings = Settings(config=AUDIO, database_url=db_url, public_url=BASE)
    async for served in _serve(settings):
        yield served


@pytest.mark.anyio
async def test_a_request_submitted_by_the_backend_is_opened_and_its_status_read(
    api_on: Api,
) -> None:
    api = api_on
    write = api.token("shop", Scope.REQUESTS_WRITE)
    read = api.token("status-page", Scope.REQUESTS_READ)
    r = await api.submit(write, kind="access", email="Ana@Example.com", name="Ana López")
    assert r.status_code == 201, r.text
    made = r.json()
    assert set(made) == {"id", "state", "status_url", "respond_by"}
    assert made["state"] == "awaiting_verification"
    assert r.headers["location"] == f"/api/v1/requests/{made['id']}"
    assert r.headers["cache-control"] == "no-store"
    assert made["status_url"] == api.desk.status_url(made["id"])
    assert made["status_url"].startswith(f"{BASE}/privacy/requests/{made['id']}/")

    stored = api.desk.store.get(made["id"])
    assert (stored.channel.value, stored.kind.value) == ("api", "access")
    assert stored.respond_by is not None
    assert made["respond_by"] == stored.respond_by.isoformat().replace("+00:00", "Z")
    received = next(api.desk.store.audit.entries(subject_ref=made["id"]))
    assert (received.action, received.actor) == ("request.received", "api:shop")

    # The person gets the receipt and the e-mailed code, as from the form.
    mail = {m.template: m.message for m in api.desk.outbox.messages(made["id"])}
    assert set(mail) == {"receipt", "verification"}
    code = mail["verification"]
    assert code is not None
    assert code.to == "ana@example.com"
    assert re.search(r"\b\d{8}\b", code.text)

    s = await api.client.get(f"/api/v1/requests/{made['id']}", headers=read)
    assert s.status_code == 200, s.text
    status = s.json()
    assert status == {
        "id": made["id"],
        "kind": "access",
        "state": "awaiting_verification",
        "received_at": status["received_at"],
        "respond_by": made["respond_by"],
        "responded_at": None,
        "denial_reason": None,
        "next_step": "code",
    }
    assert dt.datetime.fromisoformat(status["received_at"]) == stored.received_at
    # Nothing about the person comes back.
    assert "ana" not in s.text.lower()


@pytest.mark.anyio
async def test_an_opt_out_needs_no_code_and_starts_at_once(api: Api) -> None:
    write = api.token("shop", Scope.REQUESTS_WRITE)
    r = await api.submit(write, kind="opt_out_sale", email="ben@example.com")
    assert r.status_code == 201, r.text
    assert r.json()["state"] == State.IN_PROGRESS.value
    assert {m.template for m in api.desk.outbox.messages(r.json()["id"])} == {"receipt"}


@pytest.mark.anyio
async def test_missing_and_bad_tokens_get_401_and_say_nothing_else(api: Api) -> None:
    good = api.token("shop", Scope.REQUESTS_WRITE)
    revoked = api.token("old", Scope.REQUESTS_WRITE)
    api.tokens.revoke("old", now=api.desk.clock())

    missing = await api.submit({}, kind="access", email="ana@example.com")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="covenant"'

    secret = good["authorization"].removeprefix("Bearer ")
    bad_headers: list[list[tuple[str, str]]] = [
        [("authorization", "Bearer cov_" + "A" * 43)],
        [("authorization", "Bearer " + secret[:-1] + "B")],
        [("authorization", revoked["authorization"])],
        [("authorization", f"Basic {base64.b64encode(b'shop:' + secret.encode()).decode()}")],
        [("authorization", "Bearer")],
        [("authorization", "Bearer <script>alert(1)</script>")],
        [("authorization", "Bearer " + "x" * 10_000)],
        [("authorization", good["authorization"]), ("authorization", good["authorization"])],
    ]
    answers = []
    for headers in bad_headers:
        r = await api.client.post(
            "/api/v1/requests",
            content=json.dumps({"kind": "access", "email": "ana@example.com"}),
            headers=[("content-type", "application/json"), *headers],
        )
        answers.append((r.status_code, r.text, r.headers["www-authenticate"]))
    assert len(set(answers)) == 1, answers
    status, text, challenge = answers[0]
    assert status == 401
    assert challenge == 'Bearer realm="covenant", error="invalid_token"'
    assert json.loads(text) == {"error": "Send a valid API token: Authorization: Bearer cov_..."}
    assert api.count() == 0

    # A token is never read from the query string (RFC 6750 §2.3).
    r = await api.client.get(
        "/api/v1/requests/00000000-0000-4000-8000-000000000000",
        params={"access_token": secret},
    )
    assert r.status_code == 401
    # The right token is case-insensitive in its scheme only.
    ok = await api.submit({"authorization": "bearer " + secret}, kind="access", email="a@b.co")
    assert ok.status_code == 201, ok.text


@pytest.mark.anyio
async def test_a_token_without_the_scope_gets_403(api: Api) -> None:
    read_only = api.token("reader", Scope.REQUESTS_READ, Scope.CONSENT_WRITE)
    r = await api.submit(read_only, kind="access", email="ana@example.com")
    assert r.status_code == 403
    assert r.headers["www-authenticate"] == (
        'Bearer realm="covenant", error="insufficient_scope", scope="requests:write"'
    )
    assert r.json() == {"error": "This token does not have the requests:write scope."}
    assert api.count() == 0

    write_only = api.token("writer", Scope.REQUESTS_WRITE)
    made = (await api.submit(write_only, kind="access", email="ana@example.com")).json()
    r = await api.client.get(f"/api/v1/requests/{made['id']}", headers=write_only)
    assert r.status_code == 403
    assert 'scope="requests:read"' in r.headers["www-authenticate"]


@pytest.mark.anyio
async def test_unknown_and_malformed_ids_get_the_same_404(api: Api) -> None:
    read = api.token("reader", Scope.REQUESTS_READ)
    answers = set()
    for rid in (
        "00000000-0000-4000-8000-000000000000",
        "not-an-id",
        "x" * 5000,
        "%3Cscript%3E",
        "00000000-0000-4000-8000-00000000000%C3%A9",
    ):
        r = await api.client.get(f"/api/v1/requests/{rid}", headers=read)
        answers.add((r.status_code, r.text))
    assert answers == {(404, json.dumps({"error": "No such request."}, separators=(",", ":")))}
    # A path that leaves the route is not a request id at all; still nothing found.
    outside = await api.client.get("/api/v1/requests/..%2F..%2Fetc%2Fpasswd", headers=read)
    assert outside.status_code == 404


@pytest.mark.anyio
async def test_a_body_that_is_not_json_too_large_or_not_an_object_is_refused(api: Api) -> None:
    write = api.token("shop", Scope.REQUESTS_WRITE)
    post = api.client.post
    url = "/api/v1/requests"
    form = await post(url, data={"kind": "access", "email": "a@b.co"}, headers=write)
    assert form.status_code == 415
    plain = await post(url, content=b"{}", headers={**write, "content-type": "text/plain"})
    assert plain.status_code == 415

    huge = json.dumps({"kind": "access", "email": "a@b.co", "name": "x" * BODY_LIMIT})
    big = await post(url, content=huge, headers={**write, "content-type": "application/json"})
    assert big.status_code == 413
    assert big.json() == {"error": "The request body is larger than 64 KiB."}

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024  # no declared length: the limit holds on what is read

    streamed = await post(
        url, content=chunks(), headers={**write, "content-type": "application/json"}
    )
    assert streamed.status_code == 413

    for broken in (b"{", b"\xff\xfe", b"[" * (BODY_LIMIT - 1), b'{"kind": NaN'):
        r = await post(url, content=broken, headers={**write, "content-type": "application/json"})
        assert r.status_code == 400, broken[:10]
        assert r.json() == {"error": "The body is not valid JSON."}

    for not_object in (b"[]", b'"access"', b"null", b"42"):
        r = await post(
            url, content=not_object, headers={**write, "content-type": "application/json"}
        )
        assert r.status_code == 422
        assert r.json()["problems"] == {"body": "Send a JSON object."}
    assert api.count() == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "ana@example.com"}, {"kind"}),
        ({"kind": "sell_everything", "email": "ana@example.com"}, {"kind"}),
        ({"kind": "access"}, {"email"}),
        ({"kind": "access", "email": "not an address"}, {"email"}),
        ({"kind": "access", "email": "ana@example.com\r\nBcc: all@example.com"}, {"email"}),
        ({"kind": "access", "email": "<script>alert(1)</script>@x.com"}, {"email"}),
        ({"kind": "access", "email": "ana@example.com", "name": "x" * 201}, {"name"}),
        ({"kind": "access", "email": "ana@example.com", "name": "Ana\x00"}, {"name"}),
        ({"kind": "access", "email": "ana@example.com", "name": "Ana\u2028Bob"}, {"name"}),
        ({"kind": "access", "email": "ana@example.com", "name": ["Ana"]}, {"name"}),
        ({"kind": "access", "email": "ana@example.com", "admin": True}, {"admin"}),
        ({"kind": "access", "email": "ana@example.com", "jurisdiction": "mars"}, {"jurisdiction"}),
        ({"kind": "correct", "email": "ana@example.com"}, {"corrections"}),
        (
            {"kind": "access", "email": "ana@example.com", "corrections": {"a.b.c": "d"}},
            {"corrections"},
        ),
        (
            {
                "kind": "correct",
                "email": "ana@example.com",
                "corrections": {"shop.orders.total": "0"},
            },
            {"corrections"},
        ),
        ({"kind": "access", "email": "a@b.co", "agent_name": "Agency"}, {"agent_email"}),
        ({"email": "bad", "name": "\x07", "kind": "?"}, {"email", "name", "kind"}),
        ({"kind": "access", "email": "ana@example.com", "account_token": 7}, {"account_token"}),
        ({"kind": "access", "email": "ana@example.com", "account_token": "a.b"}, {"account_token"}),
    ],
)
async def test_a_bad_field_is_named_and_nothing_is_written(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    write = api.token("shop", Scope.REQUESTS_WRITE)
    r = await api.submit(write, **body)
    assert r.status_code == 422, r.text
    answer = r.json()
    assert set(answer["problems"]) == fields
    assert all(isinstance(m, str) and m for m in answer["problems"].values())
    assert "<script>" not in r.text
    assert api.count() == 0
    assert api.desk.outbox.messages() == []


@pytest.mark.anyio
async def test_hostile_text_is_kept_as_text(api: Api) -> None:
    write = api.token("shop", Scope.REQUESTS_WRITE)
    name = "<script>alert(1)</script> Zoë 😀 \u202eevil"
    r = await api.submit(write, kind="access", email="zoe@example.com", name=name)
    assert r.status_code == 201, r.text
    assert "script" not in r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert api.desk.details(r.json()["id"]).name == name


@pytest.mark.anyio
async def test_a_correction_names_a_field_the_person_could_correct(api: Api) -> None:
    write = api.token("shop", Scope.REQUESTS_WRITE)
    field = sorted(key for key, _ in api.desk.correctable_fields())[0]
    r = await api.submit(
        write, kind="correct", email="ana@example.com", corrections={field: "López"}
    )
    assert r.status_code == 201, r.text
    assert api.desk.details(r.json()["id"]).corrections == {field: "López"}


def _account_token(api: Api, *, at: dt.datetime, key: bytes | None = None) -> str:
    return mint_token("customer-42", key=key or api.desk.keys.derive("account-token"), issued_at=at)


@pytest.mark.anyio
async def test_a_fresh_sign_in_at_the_store_verifies_the_account_holder(api: Api) -> None:
    write = api.token("shop", Scope.REQUESTS_WRITE)
    token = _account_token(api, at=api.desk.clock())
    r = await api.submit(write, kind="delete", email="ana@example.com", account_token=token)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["state"] == State.VERIFIED.value  # deletions wait for staff approval
    passed = [
        e
        for e in api.desk.store.audit.entries(subject_ref=rid)
        if e.action == "verification.passed"
    ]
    assert [(e.actor, json.loads(e.body)["method"]) for e in passed] == [
        ("api:shop", "account_token")
    ]
    sent = [e.template for e in api.desk.outbox.messages(request_id=rid)]
    assert sent == ["receipt"]  # no code to send: the store's login already proved it

    access = await api.submit(write, kind="access", email="ana@example.com", account_token=token)
    assert access.json()["state"] == State.IN_PROGRESS.value  # access is approved automatically


@pytest.mark.anyio
async def test_a_bad_sign_in_token_is_refused_and_nothing_is_written(api: Api) -> None:
    write = api.token("shop", Scope.REQUESTS_WRITE)
    now = api.desk.clock()
    good = _account_token(api, at=now)
    body, signature = good.split(".")
    refused = [
        _account_token(api, at=now, key=b"k" * 32),  # another key
        _account_token(api, at=now - dt.timedelta(hours=1)),  # expired
        _account_token(api, at=now + dt.timedelta(hours=1)),  # from the future
        f"{body}x.{signature}",
        good + "<script>",
        "x" * 3000,
    ]
    for token in refused:
        r = await api.submit(write, kind="access", email="ana@example.com", account_token=token)
        assert r.status_code == 422, token[:20]
        assert set(r.json()["problems"]) == {"account_token"}
    agent = await api.submit(
        write,
        kind="access",
        email="ana@example.com",
        agent_name="Agency",
        agent_email="agent@example.org",
        account_token=good,
    )
    assert agent.status_code == 422
    assert set(agent.json()["problems"]) == {"account_token"}
    assert api.count() == 0


# --- The OpenAPI document ----------------------------------------------------------------


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_document_covers_every_api_route_and_its_refs_resolve(tmp_path: Path) -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    app = create_app(Settings(config=AUDIO, database_url=f"sqlite:///{tmp_path}/s.db"))
    served = [r for r in [*app.routes, *api_routes()] if isinstance(r, Route)]
    under = {
        (r.path, m.lower())
        for r in served
        if r.path.startswith("/api/v1/")
        for m in (r.methods or ()) - {"HEAD"}
    }
    listed = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert under == listed

    schemas = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref

    schemes = doc["components"]["securitySchemes"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["responses"]
            for requirement in op["security"]:
                assert set(requirement) <= set(schemes), path
                for scope in requirement.get("apiToken", []):
                    assert scope in {s.value for s in Scope}
            params = re.findall(r"\{(\w+)\}", path)
            assert [p["name"] for p in op.get("parameters", []) if p["in"] == "path"] == params


def test_the_request_body_schema_is_what_the_code_accepts() -> None:
    doc = document()
    body = doc["paths"]["/api/v1/requests"]["post"]["requestBody"]["content"]["application/json"]
    schema = doc["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(schema["properties"]) == set(Submission.model_fields) | {"account_token"}
    assert schema["required"] == ["kind", "email"]
    assert set(RequestIn.model_fields) == set(schema["properties"])
    ops = doc["paths"]
    assert ops["/api/v1/requests"]["post"]["security"] == [{"apiToken": ["requests:write"]}]
    assert ops["/api/v1/requests/{id}"]["get"]["security"] == [{"apiToken": ["requests:read"]}]


@pytest.mark.anyio
async def test_the_document_is_served_and_the_consent_answers_match_it(api: Api) -> None:
    r = await api.client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps(document()))

    key = {"authorization": f"Bearer {API_KEY}"}
    recorded = await api.client.post(
        "/api/v1/consent",
        json={
            "subject": "s-1",
            "consent_id": "dev-0123456789abcdef",
            "choices": [{"purpose": "marketing", "choice": "granted"}],
            "notice_version": "2026-01-15",
            "method": "sign_up",
        },
        headers=key,
    )
    assert recorded.status_code == 201, recorded.text
    ConsentRecorded.model_validate(recorded.json(), strict=False)
    linked = await api.client.post(
        "/api/v1/consent/link",
        json={"subject": "s-2", "consent_id": "dev-0123456789abcdef", "method": "sign_in"},
        headers=key,
    )
    assert linked.status_code == 201, linked.text
    ConsentWritten.model_validate(linked.json())
    for path, params in (
        ("/api/v1/consent/decision", {"subject": "s-1", "purpose": "marketing"}),
        ("/api/v1/consent/email", {"subject": "s-1"}),
    ):
        answer = await api.client.get(path, params=params, headers=key)
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == set(ConsentDecision.model_fields)
        ConsentDecision.model_validate(answer.json())


# --- The command line ----------------------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/state.db"
    upgrade(sa.make_url(url))
    monkeypatch.setenv("COVENANT_DATABASE_URL", url)
    return url


def test_the_token_commands(state: str) -> None:
    runner = CliRunner()
    config = ["--config", str(AUDIO)]
    made = runner.invoke(
        cli.app,
        ["create", "shop", "--scope", "requests:write", "--scope", "requests:read", *config],
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert TOKEN.fullmatch(secret)

    listed = runner.invoke(cli.app, ["list", "--json", *config])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "shop"
    assert row["prefix"] == f"cov_{secret[4:12]}…"
    assert row["scopes"] == ["requests:read", "requests:write"]
    assert secret not in listed.stdout
    table = runner.invoke(cli.app, ["list", *config])
    assert "shop" in table.stdout
    assert secret[4:] not in table.stdout

    again = runner.invoke(cli.app, ["create", "shop", "--scope", "requests:read", *config])
    assert again.exit_code == 2
    bad = runner.invoke(cli.app, ["create", "other", "--scope", "everything", *config])
    assert bad.exit_code == 2
    assert "not a scope" in bad.output

    gone = runner.invoke(cli.app, ["revoke", "shop", *config])
    assert gone.exit_code == 0, gone.output
    engine = connect(sa.make_url(state))
    assert ApiTokens(engine).verify(secret, now=dt.datetime.now(dt.UTC)) is None
    engine.dispose()
    missing = runner.invoke(cli.app, ["revoke", "nobody", *config])
    assert missing.exit_code == 2


def test_the_account_key_is_the_desks_own(state: str) -> None:
    printed = CliRunner().invoke(cli.app, ["account-key", "--config", str(AUDIO)])
    assert printed.exit_code == 0, printed.output
    key = base64.b64decode(printed.stdout.strip())
    desk = desk_from_settings(Settings(config=AUDIO))
    try:
        assert key == desk.keys.derive("account-token")
    finally:
        desk.close()


def test_the_commands_say_when_the_database_is_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVENANT_DATABASE_URL", f"sqlite:///{tmp_path}/missing.db")
    r = CliRunner().invoke(cli.app, ["list", "--config", str(AUDIO)])
    assert r.exit_code == 3
    assert "covenant db upgrade" in r.output
    assert not (tmp_path / "missing.db").exists()
