"""The preference center and RFC 8058 one-click unsubscribe, in process.

The pure rules (switches from the declaration, what a form means, the signed tokens, the
device cookie) are tested alone; the pages through a small app holding only these routes,
the security headers and the service's error rendering, on a real demo store and Covenant's
own database (SQLite, and PostgreSQL and MariaDB for the whole journey).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware

from covenant.consent import preferences as prefs
from covenant.consent.banner import COOKIE_NAME, StatementRef
from covenant.consent.decisions import Decision, Policy
from covenant.consent.engine import Submission
from covenant.consent.ledger import consent_records
from covenant.consent.prefs_web import preference_challenges, routes
from covenant.consent.records import Choice, Method, Topic
from covenant.consent.web import consent_state
from covenant.declaration import Loaded, load
from covenant.demo.store import DemoStore, create
from covenant.desk.build import desk_from_settings
from covenant.desk.service import Desk
from covenant.errors import CovenantError
from covenant.mail.tables import mail_outbox
from covenant.migrations import upgrade
from covenant.settings import Settings
from covenant.web.app import covenant_error
from covenant.web.headers import SecurityHeaders

BASE = "http://127.0.0.1:8000"
API_KEY = "test-api-key-0123456789abcdef"
BACKEND = {"authorization": f"Bearer {API_KEY}"}
KEY = b"k" * 32
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
DEVICE = "dev-0123456789abcdef"
STRANGER = "nobody.here@example.org"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    return create(tmp_path_factory.mktemp("prefs"), customers=5, seed=3)


def customer(store: DemoStore) -> str:
    shop = sa.create_engine(store.database_url)
    with shop.connect() as conn:
        email = conn.scalar(sa.text("SELECT email FROM customers ORDER BY id LIMIT 1"))
    shop.dispose()
    assert isinstance(email, str)
    return email


def one_channel(loaded: Loaded) -> Loaded:
    """The demo's declaration with one marketing purpose for every channel, as both seed
    stores declare it."""
    d = loaded.declaration
    purposes = []
    for p in d.purposes:
        if p.key == "marketing":
            purposes.append(
                p.model_copy(
                    update={
                        "name": "Telling you about our products",
                        "data_use": "marketing.communications",
                    }
                )
            )
        elif not p.key.startswith("marketing_"):
            purposes.append(p)
    recipients = [
        r.model_copy(
            update={"purposes": ["marketing" if k == "marketing_post" else k for k in r.purposes]}
        )
        for r in d.recipients
    ]
    return dataclasses.replace(
        loaded, declaration=d.model_copy(update={"purposes": purposes, "recipients": recipients})
    )


def without_sale(loaded: Loaded) -> Loaded:
    """The demo's declaration for a store that neither sells nor shares."""
    d = loaded.declaration
    org = d.organization.model_copy(
        update={"sells_personal_information": False, "shares_personal_information": False}
    )
    return dataclasses.replace(
        loaded,
        declaration=d.model_copy(
            update={
                "organization": org,
                "purposes": [p for p in d.purposes if p.key != "advertising"],
                "recipients": [
                    r.model_copy(update={"sale": False, "share": False}) for r in d.recipients
                ],
                "trackers": [t for t in d.trackers if t.category != "advertising"],
            }
        ),
    )


# --- The app ---------------------------------------------------------------------------------


class Center:
    def __init__(self, app: Starlette, client: httpx.AsyncClient, url: str) -> None:
        self.app = app
        self.client = client
        self.url = url
        self.headers: dict[str, str] = {}

    @property
    def desk(self) -> Desk:
        desk: Desk = self.app.state.desk
        return desk

    def ref(self, email: str) -> str:
        return self.desk.subject_ref(email)

    async def token(self, path: str) -> str:
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)

    async def ask(self, email: str) -> httpx.Response:
        token = await self.token("/privacy/preferences")
        return await self.client.post(
            "/privacy/preferences", data={"csrf_token": token, "email": email}
        )

    def mails(self, to: str) -> list[str]:
        entries = self.app.state.desk.outbox.messages(None, 200)
        return [e.message.text for e in entries if e.message is not None and e.message.to == to]

    async def sign_in(self, email: str) -> httpx.Response:
        """The whole proof: ask for a code, read it in the mail, enter it."""
        asked = await self.ask(email)
        assert asked.status_code == 303, asked.text
        code, link = code_and_link(self.mails(email)[0])
        opened = await self.client.get(link)
        assert f'value="{code}"' in opened.text  # filled in by the link; a GET spends nothing
        return await self.enter(link, code)

    async def enter(self, link: str, code: str) -> httpx.Response:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
        token = await self.token(link)
        return await self.client.post(
            "/privacy/preferences/verify",
            data={"csrf_token": token, "c": query["c"][0], "code": code},
        )

    async def save(
        self, *, tick: tuple[str, ...] = (), untick: tuple[str, ...] = (), **extra: str
    ) -> httpx.Response:
        """Post the page's form as a browser would: its ticked boxes, changed as asked."""
        page = await self.client.get("/privacy/preferences", headers=self.headers)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        boxes = {
            m.group(1)
            for m in re.finditer(
                r'<input type="checkbox" id="[^"]+" name="([^"]+)"([^>]*)>', page.text
            )
            if " checked" in m.group(2) and " disabled" not in m.group(2)
        }
        ticked = (boxes | set(tick)) - set(untick)
        data = {"csrf_token": token.group(1), **extra, **dict.fromkeys(ticked, "on")}
        return await self.client.post(
            "/privacy/preferences/choices", data=data, headers=self.headers
        )

    def records(self) -> list[sa.Row[tuple[object, ...]]]:
        with self.desk.engine.connect() as conn:
            return list(conn.execute(sa.select(consent_records).order_by(consent_records.c.seq)))


def code_and_link(text: str) -> tuple[str, str]:
    found = re.search(
        rf"{re.escape(BASE)}(/privacy/preferences/verify\?c=[\w-]+&code=(\d{{8}}))", text
    )
    assert found is not None, text
    return found.group(2), found.group(1)


def build(settings: Settings, loaded: Loaded) -> Starlette:
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(SecurityHeaders, development=settings.development)],
        exception_handlers={CovenantError: covenant_error},
    )
    desk = desk_from_settings(settings, loaded=loaded)
    upgrade(desk.engine.url)
    app.state.settings = settings
    app.state.loaded = loaded
    app.state.desk = desk
    app.state.keys = desk.keys
    app.state.consent = consent_state(settings, loaded)
    return app


@pytest.fixture
def make(store: DemoStore, tmp_path: Path) -> Iterator[object]:
    opened: list[tuple[Starlette, httpx.AsyncClient]] = []

    async def factory(
        loaded: Loaded | None = None, *, url: str | None = None, api_key: str | None = API_KEY
    ) -> Center:
        database = url or f"sqlite:///{tmp_path}/state-{len(opened)}.db"
        settings = Settings(
            config=store.declaration,
            database_url=database,
            development=True,
            public_url=BASE,
            api_key=api_key,
        )
        app = build(settings, loaded or load(store.declaration))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
        opened.append((app, client))
        return Center(app, client, database)

    yield factory
    for app, _ in opened:
        app.state.consent.close()
        app.state.desk.close()


@pytest.fixture
async def center(make: object) -> AsyncIterator[Center]:
    made: Center = await make()  # type: ignore[operator]
    async with made.client:
        yield made


@pytest.fixture
async def channels(make: object, store: DemoStore) -> AsyncIterator[Center]:
    made: Center = await make(load(store.declaration))  # type: ignore[operator]
    async with made.client:
        yield made


def checked(page: str, field: str) -> bool:
    tag = re.search(rf'<input type="checkbox" id="{re.escape(field)}"[^>]*>', page)
    assert tag is not None, f"no switch {field}"
    return " checked" in tag.group(0)


# --- The pure rules ------------------------------------------------------------------------


def test_channels_come_from_the_declared_purposes(store: DemoStore) -> None:
    plain = one_channel(load(store.declaration)).declaration
    split = load(store.declaration).declaration
    one = prefs.offer(plain, Policy.from_declaration(plain))
    four = prefs.offer(split, Policy.from_declaration(split))
    assert [s.field for s in one.marketing] == ["purpose:marketing"]
    assert [s.label for s in four.marketing] == [
        "Offers by e-mail",
        "Offers by text message",
        "Offers by phone",
        "Offers by post",
    ]
    # Sale and sharing: the targeted-advertising purpose and the advertising trackers.
    assert four.sale is not None
    assert set(four.sale.topics) == {
        Topic("purpose", "advertising"),
        Topic("category", "advertising"),
    }
    assert [s.field for s in four.cookies] == [
        "category:functional",
        "category:analytics",
        "category:advertising",
    ]
    assert four.always_on == ("Necessary",)
    none = without_sale(load(store.declaration)).declaration
    assert prefs.offer(none, Policy.from_declaration(none)).sale is None


def _setting(field: str, *decisions: Decision, group: prefs.Group = "marketing") -> prefs.Setting:
    topics = tuple(Topic("purpose", f"p{i}") for i in range(len(decisions)))
    return prefs.Setting(prefs.Switch(field, group, field, "", topics), decisions)


GRANTED = Decision(True, "granted", "", 1)
DEFAULT_ON = Decision(True, "default_opt_out", "")
DENIED = Decision(False, "denied", "", 2)
GPC = Decision(False, "gpc", "")


def test_a_form_records_only_what_changed_and_a_grant_taken_back_is_a_withdrawal() -> None:
    current = [
        _setting("a", GRANTED),
        _setting("b", DEFAULT_ON),
        _setting("c", DENIED),
        _setting("d", DENIED),
    ]
    asked = prefs.wanted(current, {"c": ["on"], "d": ["on"]})
    assert asked == {"a": False, "b": False, "c": True, "d": True}
    assert prefs.changes(current, asked) == [
        (Topic("purpose", "p0"), Choice.WITHDRAWN),
        (Topic("purpose", "p0"), Choice.DENIED),
        (Topic("purpose", "p0"), Choice.GRANTED),
        (Topic("purpose", "p0"), Choice.GRANTED),
    ]
    unchanged = prefs.wanted(current, {"a": ["on"], "b": ["on"]})
    assert prefs.changes(current, unchanged) == []


def test_withdrawing_is_one_click_and_locked_switches_never_move() -> None:
    current = [_setting("a", GRANTED), _setting("b", DEFAULT_ON), _setting("s", GPC, group="sale")]
    assert prefs.wanted(current, {"withdraw": ["a"], "b": ["on"]}) == {"a": False}
    assert prefs.wanted(current, {"withdraw": ["all"]}) == {"a": False, "b": False}
    # The sale switch is worded as an opt-out; under GPC it is locked and left out.
    assert "s" not in prefs.wanted(current, {})
    with pytest.raises(prefs.PreferenceError):
        prefs.wanted(current, {"withdraw": ["s"]})


@pytest.mark.parametrize(
    "form",
    [
        {"purpose:unknown": ["on"]},
        {"a": ["yes"]},
        {"a": ["on", "on"]},
        {"a": ["<script>alert(1)</script>"]},
        {"withdraw": ["a", "b"]},
        {"withdraw": ["nothing"]},
        {"é" * 300: ["on"]},
    ],
)
def test_a_form_the_page_could_not_send_is_refused_whole(form: dict[str, list[str]]) -> None:
    with pytest.raises(prefs.PreferenceError):
        prefs.wanted([_setting("a", GRANTED), _setting("b", DENIED)], form)


def test_sessions_are_signed_short_and_bound_to_their_key() -> None:
    token = prefs.session_token("ref_1", key=KEY, now=NOW)
    assert prefs.session_subject(token, key=KEY, now=NOW + dt.timedelta(minutes=29)) == "ref_1"
    assert prefs.session_subject(token, key=KEY, now=NOW + dt.timedelta(minutes=30)) is None
    assert prefs.session_subject(token, key=b"o" * 32, now=NOW) is None
    ref, expires, mac = token.split(".")
    for forged in (
        f"ref_2.{expires}.{mac}",
        f"{ref}.{int(expires) + 3600}.{mac}",
        f"{ref}.{expires}.{mac[:-1]}A",
        token + "x",
        "x" * 10_000,
        "",
    ):
        assert prefs.session_subject(forged, key=KEY, now=NOW) is None
    # A token made to live longer than a session is refused even with a valid MAC.
    long = prefs.session_token("ref_1", key=KEY, now=NOW, ttl=dt.timedelta(days=1))
    assert prefs.session_subject(long, key=KEY, now=NOW) is None


def test_unsubscribe_tokens_name_person_and_list_and_cannot_be_altered() -> None:
    day = NOW.date()
    token = prefs.unsubscribe_token("ref_1", "marketing", key=KEY, issued=day)
    assert prefs.read_unsubscribe(token, key=KEY, today=day) == prefs.Unsubscribe(
        "ref_1", "marketing", day
    )
    # Years later the link still works: a person may find the message at any time.
    assert prefs.read_unsubscribe(token, key=KEY, today=day.replace(year=2031)).purpose == (
        "marketing"
    )
    ref, purpose, issued, mac = token.split(".")
    for forged in (
        f"ref_2.{purpose}.{issued}.{mac}",
        f"{ref}.advertising.{issued}.{mac}",
        f"{ref}.{purpose}.20260303.{mac}",
        f"{ref}.{purpose}.{issued}.{mac[::-1]}",
        token.replace("ref_1", "réf_1"),
        "a" * 5000,
    ):
        with pytest.raises(prefs.BadLink):
            prefs.read_unsubscribe(forged, key=KEY, today=day)
    with pytest.raises(prefs.BadLink):
        prefs.read_unsubscribe(token, key=b"o" * 32, today=day)
    future = prefs.unsubscribe_token("ref_1", "marketing", key=KEY, issued=day.replace(year=2027))
    with pytest.raises(prefs.BadLink):
        prefs.read_unsubscribe(future, key=KEY, today=day)


def test_unsubscribe_headers_follow_rfc_8058() -> None:
    assert prefs.unsubscribe_headers("https://shop.example/privacy/unsubscribe/t") == {
        "List-Unsubscribe": "<https://shop.example/privacy/unsubscribe/t>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    with pytest.raises(prefs.PreferenceError, match="https"):
        prefs.unsubscribe_headers("http://shop.example/u/t")
    assert prefs.unsubscribe_headers("http://127.0.0.1/u/t", allow_http=True)
    for bad in ("https://a.example/u\r\nBcc: x@example.com", "mailto:x@example.com", "https://a b"):
        with pytest.raises(prefs.PreferenceError):
            prefs.unsubscribe_headers(bad)


def test_one_click_records_a_withdrawal_once() -> None:
    assert prefs.unsubscribe_choice(Choice.GRANTED) is Choice.WITHDRAWN
    assert prefs.unsubscribe_choice(None) is Choice.DENIED
    assert prefs.unsubscribe_choice(Choice.WITHDRAWN) is None
    assert prefs.unsubscribe_choice(Choice.DENIED) is None


def test_the_device_cookie_is_read_as_the_banner_writes_it_and_nothing_else() -> None:
    state = {"id": DEVICE, "signals": ["gpc", "evil"], "choices": {"analytics": True, "x": 1}}
    raw = urllib.parse.quote(json.dumps(state))
    assert prefs.device_state(raw) == {
        "id": DEVICE,
        "signals": ["gpc"],
        "choices": {"analytics": True},
    }
    for bad in ("", "{", "%ZZ", urllib.parse.quote('{"id":"short"}'), "[1]", "x" * 5000):
        assert prefs.device_state(bad) is None
    written = prefs.device_cookie(
        {"id": DEVICE, "signals": []}, {"analytics": False}, StatementRef("/s", "3", "2")
    )
    assert prefs.device_state(written) == {
        "id": DEVICE,
        "signals": [],
        "choices": {"analytics": False},
        "version": "3",
        "basis": "2",
    }


# --- The pages -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_person_proves_their_address_then_chooses_by_channel(
    make: object, store: DemoStore, db_url: str
) -> None:
    center: Center = await make(load(store.declaration), url=db_url)  # type: ignore[operator]
    async with center.client:
        email = customer(store)
        start = await center.client.get("/privacy/preferences")
        assert "Your e-mail address" in start.text
        assert "no-store" in start.headers["cache-control"]
        assert "content-security-policy" in start.headers
        signed = await center.sign_in(email)
        assert signed.status_code == 303
        assert signed.headers["location"] == "/privacy/preferences?m=verified"
        cookie = signed.headers["set-cookie"]
        assert "Path=/privacy/preferences" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie

        page = await center.client.get("/privacy/preferences")
        for field in (
            "purpose:marketing",
            "purpose:marketing_sms",
            "purpose:marketing_phone",
            "purpose:marketing_post",
        ):
            assert not checked(page.text, field)  # marketing is opt-in everywhere
        saved = await center.save(tick=("purpose:marketing", "purpose:marketing_sms"))
        assert saved.headers["location"] == "/privacy/preferences?m=saved"
        rows = center.records()
        assert [(r.topic, r.choice, r.method) for r in rows] == [
            ("purpose:marketing", "granted", "form"),
            ("purpose:marketing_sms", "granted", "form"),
        ]
        assert {r.subject_ref for r in rows} == {center.ref(email)}
        assert {r.notice_version for r in rows} == {
            load(store.declaration).declaration.organization.effective_date.isoformat()
        }
        assert email not in json.dumps([dict(r._mapping) for r in rows], default=str)

        reloaded = await center.client.get("/privacy/preferences")
        assert checked(reloaded.text, "purpose:marketing")
        assert checked(reloaded.text, "purpose:marketing_sms")
        assert not checked(reloaded.text, "purpose:marketing_phone")

        # Withdrawing is one click, and recorded as a withdrawal of the grant.
        withdrawn = await center.save(withdraw="purpose:marketing_sms")
        assert withdrawn.headers["location"] == "/privacy/preferences?m=saved"
        last = center.records()[-1]
        assert (last.topic, last.choice) == ("purpose:marketing_sms", "withdrawn")
        assert json.loads(last.evidence) == {"page": "preferences", "action": "withdraw"}
        again = await center.client.get("/privacy/preferences")
        assert checked(again.text, "purpose:marketing")
        assert not checked(again.text, "purpose:marketing_sms")

        # The receipt: a download with the Kantara fields.
        got = await center.client.get("/privacy/preferences/receipt")
        assert got.status_code == 200
        assert got.headers["content-disposition"] == 'attachment; filename="consent-receipt.json"'
        receipt = got.json()
        assert receipt["version"] == "KI-CR-v1.1.0"
        assert receipt["piiPrincipalId"] == center.ref(email)
        assert receipt["collectionMethod"] == "form"
        assert [p["purpose"] for p in receipt["services"][0]["purposes"]] == ["Offers by e-mail"]
        latest_choices = {c["topic"]: c["choice"] for c in receipt["x-covenant-choices"]}
        assert latest_choices == {
            "purpose:marketing": "granted",
            "purpose:marketing_sms": "withdrawn",
        }


@pytest.mark.anyio
async def test_saving_an_unchanged_page_records_nothing(channels: Center) -> None:
    await channels.sign_in("ana@example.com")
    unchanged = await channels.save()
    assert unchanged.headers["location"] == "/privacy/preferences?m=unchanged"
    assert channels.records() == []


@pytest.mark.anyio
async def test_strangers_and_customers_get_the_same_answers(
    center: Center, store: DemoStore
) -> None:
    answers = []
    for email in (customer(store), STRANGER):
        asked = await center.ask(email)
        page = await center.client.get(asked.headers["location"])
        answers.append(
            (
                asked.status_code,
                re.sub(r"c=[\w-]+", "c=ID", asked.headers["location"]),
                re.sub(r'value="[^"]*"', 'value=""', page.text),
            )
        )
        (message,) = center.mails(email)
        assert code_and_link(message)
    assert answers[0] == answers[1]
    # Both are real proofs: a stranger manages their own address's marketing too.
    code, link = code_and_link(center.mails(STRANGER)[0])
    assert (await center.enter(link, code)).status_code == 303


@pytest.mark.anyio
async def test_wrong_spent_and_expired_codes_open_nothing(center: Center) -> None:
    await center.ask("ana@example.com")
    code, link = code_and_link(center.mails("ana@example.com")[0])
    wrong = "00000000" if code != "00000000" else "11111111"
    refused = await center.enter(link, wrong)
    assert refused.status_code == 400
    assert "not right" in refused.text
    assert (
        "set-cookie" not in refused.headers
        or "covenant_preferences" not in refused.headers["set-cookie"]
    )
    assert (await center.enter(link, code)).status_code == 303
    replay = await center.enter(link, code)  # a code works once
    assert replay.status_code == 400
    assert "no longer works" in replay.text

    await center.ask("bo@example.com")
    code, link = code_and_link(center.mails("bo@example.com")[0])
    for _ in range(5):
        await center.enter(link, wrong)
    assert (await center.enter(link, code)).status_code == 400  # five wrong tries spend it

    await center.ask("cy@example.com")
    code, link = code_and_link(center.mails("cy@example.com")[0])
    real = center.desk.clock
    center.desk.clock = lambda: real() + dt.timedelta(minutes=31)
    late = await center.enter(link, code)
    assert late.status_code == 400
    assert "expired" in late.text


@pytest.mark.anyio
async def test_a_session_ends_after_thirty_minutes_and_cannot_be_forged(center: Center) -> None:
    await center.sign_in("ana@example.com")
    assert "Marketing messages" in (await center.client.get("/privacy/preferences")).text
    real = center.desk.clock
    center.desk.clock = lambda: real() + dt.timedelta(minutes=31)
    late = await center.client.get("/privacy/preferences")
    assert "Your e-mail address" in late.text
    saved = await center.client.post("/privacy/preferences/choices", data={})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/privacy/preferences?m=expired"
    center.desk.clock = real
    token = center.client.cookies.get("covenant_preferences")
    assert token is not None
    _, expires, mac = token.split(".")

    def only(value: str) -> None:
        center.client.cookies.clear()
        center.client.cookies.set(
            "covenant_preferences", value, domain="127.0.0.1", path="/privacy/preferences"
        )

    only(f"{center.ref('bo@example.com')}.{expires}.{mac}")  # someone else's reference
    assert "Your e-mail address" in (await center.client.get("/privacy/preferences")).text
    only(f"{token}<script>")
    assert "Your e-mail address" in (await center.client.get("/privacy/preferences")).text
    only(token)  # the same jar with the real token: the check above was the token's
    assert "Marketing messages" in (await center.client.get("/privacy/preferences")).text
    assert center.records() == []


@pytest.mark.anyio
async def test_forms_need_a_csrf_token_and_refuse_cross_site_posts(center: Center) -> None:
    refused = await center.client.post("/privacy/preferences", data={"email": "ana@example.com"})
    assert refused.status_code == 403
    token = await center.token("/privacy/preferences")
    cross = await center.client.post(
        "/privacy/preferences",
        data={"csrf_token": token, "email": "ana@example.com"},
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )
    assert cross.status_code == 403
    assert center.mails("ana@example.com") == []
    await center.sign_in("ana@example.com")
    forged = await center.client.post(
        "/privacy/preferences/choices", data={"purpose:marketing": "on"}
    )
    assert forged.status_code == 403
    assert center.records() == []


@pytest.mark.anyio
async def test_one_address_gets_at_most_three_codes_an_hour(center: Center) -> None:
    answers = {(await center.ask("ana@example.com")).status_code for _ in range(4)}
    assert answers == {303}
    assert len(center.mails("ana@example.com")) == 3
    with center.desk.engine.connect() as conn:
        stored = conn.execute(sa.select(preference_challenges)).all()
    assert len(stored) == 3
    assert all(len(row.hash) == 64 for row in stored)  # a keyed hash, never the code


@pytest.mark.anyio
async def test_sale_opt_out_covers_purposes_and_ad_trackers_and_gpc_locks_it(
    center: Center,
) -> None:
    center.headers = {"cf-ipcountry": "US"}  # as the banner: a US visitor is opted in until out
    await center.sign_in("ana@example.com")
    page = await center.client.get("/privacy/preferences", headers=center.headers)
    assert "Do not sell or share my personal information" in page.text
    assert not checked(page.text, "sale")
    await center.save(tick=("sale",))
    rows = center.records()
    assert {(r.topic, r.choice, r.jurisdiction) for r in rows} == {
        ("purpose:advertising", "denied", "us"),
        ("category:advertising", "denied", "us"),
    }
    reloaded = await center.client.get("/privacy/preferences", headers=center.headers)
    assert checked(reloaded.text, "sale")
    assert not checked(reloaded.text, "category:advertising")

    center.headers = {"cf-ipcountry": "US", "sec-gpc": "1"}
    with_gpc = await center.client.get("/privacy/preferences", headers=center.headers)
    assert re.search(r'id="sale"[^>]*checked[^>]*disabled', with_gpc.text)
    assert "Global Privacy Control" in with_gpc.text
    # The page's form under GPC: the locked switch is sent as "not ticked", and left alone.
    await center.save(tick=("purpose:marketing",))
    assert [(r.topic, r.choice) for r in center.records()[len(rows) :]] == [
        ("purpose:marketing", "granted")
    ]


@pytest.mark.anyio
async def test_a_store_that_does_not_sell_says_so_plainly(make: object, store: DemoStore) -> None:
    center: Center = await make(without_sale(load(store.declaration)))  # type: ignore[operator]
    async with center.client:
        await center.sign_in("ana@example.com")
        page = await center.client.get("/privacy/preferences")
        assert "We do not sell or share your personal information." in page.text
        assert 'id="sale"' not in page.text


@pytest.mark.anyio
async def test_cookie_choices_go_to_this_browser_and_link_it_to_the_person(
    center: Center,
) -> None:
    # Before anyone signs in, the banner on this browser allowed analytics.
    engine = center.app.state.consent.engine()
    engine.record(
        Submission(
            choices=[(Topic("category", "analytics"), Choice.GRANTED)],
            method=Method.BANNER,
            notice_version="2026-01-15",
            consent_id=DEVICE,
            jurisdiction="eu",
        )
    )
    state = {"id": DEVICE, "signals": [], "choices": {"analytics": True}}
    center.client.cookies.set(COOKIE_NAME, urllib.parse.quote(json.dumps(state)))
    await center.sign_in("ana@example.com")
    link = center.records()[-1]
    assert (link.kind, link.subject_ref, link.consent_id, link.method) == (
        "link",
        center.ref("ana@example.com"),
        DEVICE,
        "verification",
    )
    page = await center.client.get("/privacy/preferences")
    assert checked(page.text, "category:analytics")  # the browser's choice counts for them
    assert not checked(page.text, "category:functional")
    saved = await center.save(tick=("category:functional",), untick=("category:analytics",))
    written = center.records()[2:]
    assert {(r.topic, r.choice) for r in written} == {
        ("category:functional", "granted"),
        ("category:analytics", "withdrawn"),
    }
    assert {(r.subject_ref, r.consent_id, r.method) for r in written} == {
        (center.ref("ana@example.com"), DEVICE, "form")
    }
    cookie = saved.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" not in cookie  # the banner script reads it
    banner = prefs.device_state(cookie.split(";")[0].split("=", 1)[1])
    assert banner is not None
    assert banner["id"] == DEVICE
    assert banner["choices"] == {"functional": True, "analytics": False, "advertising": False}


@pytest.mark.anyio
async def test_no_receipt_before_any_choice_and_none_without_a_session(center: Center) -> None:
    anonymous = await center.client.get("/privacy/preferences/receipt")
    assert anonymous.status_code == 303
    await center.sign_in("ana@example.com")
    none = await center.client.get("/privacy/preferences/receipt")
    assert none.status_code == 404
    assert "No receipt yet" in none.text


@pytest.mark.anyio
async def test_sign_out_ends_the_session(center: Center) -> None:
    await center.sign_in("ana@example.com")
    token = await center.token("/privacy/preferences")
    out = await center.client.post("/privacy/preferences/sign-out", data={"csrf_token": token})
    assert out.headers["location"] == "/privacy/preferences?m=signed_out"
    assert "Your e-mail address" in (await center.client.get("/privacy/preferences")).text


@pytest.mark.anyio
@pytest.mark.parametrize(
    "email",
    [
        "not-an-address",
        "a@b.example\r\nBcc: victim@example.com",
        "<script>alert(1)</script>@example.com",
        "x" * 10_000 + "@example.com",
        "ünï\u2028@example.com",
    ],
)
async def test_hostile_addresses_are_refused_shown_escaped_and_send_nothing(
    center: Center, email: str
) -> None:
    answer = await center.ask(email)
    assert answer.status_code == 400
    assert "Enter one e-mail address" in answer.text
    assert "<script>alert" not in answer.text
    assert center.app.state.desk.outbox.messages(None, 10) == []
    with center.desk.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(mail_outbox)) == 0


@pytest.mark.anyio
async def test_hostile_forms_change_nothing(center: Center) -> None:
    await center.sign_in("ana@example.com")
    token = await center.token("/privacy/preferences")
    for data in (
        {"purpose:accounts": "on"},  # a necessary purpose: not a switch
        {"purpose:marketing": "<script>"},
        {"withdraw": "purpose:nothing"},
    ):
        refused = await center.client.post(
            "/privacy/preferences/choices", data={"csrf_token": token, **data}
        )
        assert refused.status_code == 400
    huge = await center.client.post(
        "/privacy/preferences/choices", data={"csrf_token": token, "x": "y" * 20_000}
    )
    assert huge.status_code == 413
    wrong_type = await center.client.post(
        "/privacy/preferences/choices",
        content=json.dumps({"csrf_token": token}),
        headers={"content-type": "application/json"},
    )
    assert wrong_type.status_code == 415
    assert center.records() == []


# --- RFC 8058 one-click unsubscribe ---------------------------------------------------------


async def mint(center: Center, email: str, **extra: str) -> httpx.Response:
    return await center.client.post(
        "/api/v1/consent/unsubscribe-link", json={"email": email, **extra}, headers=BACKEND
    )


@pytest.mark.anyio
async def test_one_click_unsubscribe_withdraws_once_and_only_on_post(channels: Center) -> None:
    email = "ana@example.com"
    await channels.sign_in(email)
    await channels.save(tick=("purpose:marketing", "purpose:marketing_sms"))
    before = len(channels.records())

    minted = await mint(channels, email)
    assert minted.status_code == 200
    body = minted.json()
    assert body["channel"] == "marketing"  # the purpose may_email asks about
    url = body["url"]
    assert url.startswith(f"{BASE}/privacy/unsubscribe/")
    assert body["headers"] == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    path = url.removeprefix(BASE)

    # A scanner, or a person, opening the link: a page with a button, and nothing recorded.
    fresh = httpx.AsyncClient(transport=httpx.ASGITransport(app=channels.app), base_url=BASE)
    async with fresh:
        shown = await fresh.get(path)
        assert shown.status_code == 200
        assert "Offers by e-mail" in shown.text
        assert 'name="List-Unsubscribe" value="One-Click"' in shown.text
        assert "set-cookie" not in shown.headers
        assert len(channels.records()) == before

        # The mail client's POST: no cookies, no CSRF token, no redirect.
        done = await fresh.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert "location" not in done.headers
        assert "set-cookie" not in done.headers
        assert "You are unsubscribed" in done.text
        (last,) = channels.records()[before:]
        assert (last.topic, last.choice, last.method) == (
            "purpose:marketing",
            "withdrawn",
            "form",
        )
        assert last.subject_ref == channels.ref(email)
        evidence = json.loads(last.evidence)
        assert evidence["one_click"] is True
        assert evidence["link_issued"] == dt.datetime.now(dt.UTC).date().isoformat()

        # Replayed, and sent as multipart as RFC 8058 recommends: the same answer, nothing new.
        again = await fresh.post(path, files={"List-Unsubscribe": (None, "One-Click")})
        assert again.status_code == 200
        assert len(channels.records()) == before + 1

    page = await channels.client.get("/privacy/preferences")
    assert not checked(page.text, "purpose:marketing")
    assert checked(page.text, "purpose:marketing_sms")  # other channels untouched


@pytest.mark.anyio
async def test_unsubscribe_without_a_grant_records_a_refusal(channels: Center) -> None:
    minted = await mint(channels, STRANGER, channel="marketing_sms")
    path = minted.json()["url"].removeprefix(BASE)
    assert (
        await channels.client.post(path, data={"List-Unsubscribe": "One-Click"})
    ).status_code == 200
    (row,) = channels.records()
    assert (row.topic, row.choice, row.subject_ref) == (
        "purpose:marketing_sms",
        "denied",
        channels.ref(STRANGER),
    )


@pytest.mark.anyio
async def test_forged_links_and_wrong_bodies_unsubscribe_nobody(channels: Center) -> None:
    path = (await mint(channels, "ana@example.com")).json()["url"].removeprefix(BASE)
    token = path.rsplit("/", 1)[1]
    ref, purpose, issued, mac = token.split(".")
    bob = channels.ref("bob@example.com")
    for forged in (
        f"{bob}.{purpose}.{issued}.{mac}",
        f"{ref}.marketing_sms.{issued}.{mac}",
        f"{ref}.{purpose}.{issued}.{mac[:-2]}",
        "%3Cscript%3E",
        "é" * 40,
        "A" * 3000,
    ):
        for method in ("GET", "POST"):
            answer = await channels.client.request(
                method, f"/privacy/unsubscribe/{forged}", data={"List-Unsubscribe": "One-Click"}
            )
            assert answer.status_code == 404, forged
            assert "This link does not work" in answer.text
    # A validly signed link to a purpose that is not marketing is refused too.
    key = channels.desk.keys.derive("status-link")
    other = prefs.unsubscribe_token(ref, "advertising", key=key, issued=NOW.date())
    assert (await channels.client.get(f"/privacy/unsubscribe/{other}")).status_code == 404
    for data in ({}, {"List-Unsubscribe": "one-click"}, {"List-Unsubscribe": "One-Click, x"}):
        wrong = await channels.client.post(path, data=data)
        assert wrong.status_code == 400
    json_body = await channels.client.post(path, json={"List-Unsubscribe": "One-Click"})
    assert json_body.status_code == 415
    big = await channels.client.post(
        path, data={"List-Unsubscribe": "One-Click", "x": "y" * 20_000}
    )
    assert big.status_code == 413
    assert channels.records() == []


@pytest.mark.anyio
async def test_only_the_store_backend_mints_unsubscribe_links(
    make: object, channels: Center
) -> None:
    anonymous = await channels.client.post(
        "/api/v1/consent/unsubscribe-link", json={"email": "ana@example.com"}
    )
    assert anonymous.status_code == 401
    wrong = await channels.client.post(
        "/api/v1/consent/unsubscribe-link",
        json={"email": "ana@example.com"},
        headers={"authorization": "Bearer nope"},
    )
    assert wrong.status_code == 401
    for body, status in (
        ({"email": "ana@example.com", "channel": "advertising"}, 400),
        ({"email": "ana@example.com", "channel": "Bad Key"}, 400),
        ({"email": "not an address"}, 400),
        ({"email": "a@b.example\r\nBcc: x@example.com"}, 400),
        ({"email": "ana@example.com", "extra": 1}, 400),
    ):
        answer = await channels.client.post(
            "/api/v1/consent/unsubscribe-link", json=body, headers=BACKEND
        )
        assert answer.status_code == status, body
    unconfigured: Center = await make(api_key=None)  # type: ignore[operator]
    async with unconfigured.client:
        off = await mint(unconfigured, "ana@example.com")
        assert off.status_code == 403
