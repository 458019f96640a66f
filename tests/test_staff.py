"""Staff accounts: argon2id passwords, sign-in with lockout, sessions, roles, the pages, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import Parameters, Type, extract_parameters
from starlette.applications import Starlette
from starlette.middleware import Middleware
from typer.testing import CliRunner

# First: covenant/web/__init__.py imports the app, which imports covenant.staff.web;
# importing covenant.staff.web before the package would be circular.
import covenant.web  # noqa: F401
from covenant.audit import AuditLog
from covenant.db import connect
from covenant.errors import CovenantError
from covenant.keys import Keys
from covenant.migrations import upgrade
from covenant.settings import Settings
from covenant.staff import passwords, usernames
from covenant.staff.accounts import (
    AccountExists,
    InvalidRole,
    LoginFailed,
    NoSuchAccount,
    StaffAccounts,
)
from covenant.staff.cli import app as staff_cli
from covenant.staff.passwords import PasswordRefused, Passwords
from covenant.staff.ratelimit import TokenBucket
from covenant.staff.roles import PERMISSIONS, Action, NotAllowed, NotSignedIn, Role, can, require
from covenant.staff.sessions import COOKIE, DEV_COOKIE, StaffSessions
from covenant.staff.tables import staff_accounts
from covenant.staff.usernames import InvalidUsername
from covenant.staff.web import routes
from covenant.web.app import covenant_error
from covenant.web.headers import SecurityHeaders

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PW = "correct horse battery"
MINI = Path(__file__).parent / "fixtures" / "mini" / "covenant.yml"
# Cheap argon2id for tests that sign in many times; the production parameters
# are checked on their own below.
FAST = Parameters(
    type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=1, memory_cost=1024, parallelism=1
)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    url = sa.make_url(db_url)
    upgrade(url)
    engine = connect(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    url = sa.make_url(f"sqlite:///{tmp_path}/state.db")
    upgrade(url)
    engine = connect(url)
    yield engine
    engine.dispose()


def make_accounts(engine: sa.Engine, **kw: Any) -> StaffAccounts:
    return StaffAccounts(engine, AuditLog(engine), passwords=Passwords(FAST), **kw)


def trail(accounts: StaffAccounts) -> list[tuple[str, str, str, str]]:
    """(action, actor, subject_ref, body) of every audit entry."""
    return [(e.action, e.actor, e.subject_ref, e.body) for e in accounts.audit.entries()]


# Passwords and usernames (pure).


def test_production_hashing_is_rfc_9106_second_recommended_option() -> None:
    stored = Passwords().hash(PW, username="ana")
    p = extract_parameters(stored)
    assert (p.type, p.time_cost, p.memory_cost, p.parallelism) == (Type.ID, 3, 65536, 4)
    assert (p.salt_len, p.hash_len) == (16, 32)
    assert stored.startswith("$argon2id$")
    assert Passwords().verify(stored, PW)


def test_password_rules() -> None:
    assert (
        passwords.problem("x" * 11, username="ana")
        == "The password must be at least 12 characters."
    )
    assert passwords.problem("x" * 12, username="ana") is None
    assert passwords.problem("x" * 1024, username="ana") is None
    assert passwords.problem("x" * 1025, username="ana") is not None
    assert passwords.problem("Ana.Lopez.Admin", username="ana.lopez.admin") is not None
    # Any Unicode, counted in code points: 12 emoji are a 12-character password.
    assert passwords.problem("🔑" * 12, username="ana") is None
    with pytest.raises(PasswordRefused, match="at least 12"):
        Passwords(FAST).hash("short", username="ana")


def test_an_overlong_password_is_refused_without_hashing_it() -> None:
    hasher = Passwords(FAST)
    stored = hasher.hash(PW, username="ana")
    with pytest.raises(PasswordRefused, match="longer than 1024"):
        hasher.hash("x" * 10_000_000, username="ana")
    assert not hasher.verify(stored, "x" * 10_000_000)
    assert not hasher.verify(stored, PW + "!")
    assert not hasher.verify("not a hash", PW)


def test_passwords_are_compared_after_nfkc_normalization() -> None:
    hasher = Passwords(FAST)
    stored = hasher.hash("ｆｕｌｌｗｉｄｔｈ ｐａｓｓ", username="ana")  # noqa: RUF001
    assert hasher.verify(stored, "fullwidth pass")


def test_usernames_are_case_folded_and_ascii() -> None:
    assert usernames.check("Ana.Lopez@Example.COM") == "ana.lopez@example.com"
    assert usernames.check("ＡＮＡ") == "ana"  # noqa: RUF001
    hostile = ["", " ", "<script>alert(1)</script>", "аdmin", "a" * 129, "ana\x00", "ana lopez"]  # noqa: RUF001
    for name in hostile:
        assert usernames.normalize(name) is None, name
    with pytest.raises(InvalidUsername, match="1 to 128 characters"):
        usernames.check("x" * 10_000_000)


# Roles (pure).


def test_roles_matrix() -> None:
    reviewing = {
        Action.VIEW,
        Action.VERIFY,
        Action.APPROVE,
        Action.DENY,
        Action.EXTEND,
        Action.ADD_NOTE,
        Action.COMPLETE_TASK,
    }
    expected = {
        Role.READ_ONLY: {Action.VIEW},
        Role.REVIEWER: reviewing,
        Role.ADMIN: reviewing | {Action.MANAGE_STAFF},
    }
    for role in Role:
        for action in Action:
            assert can(role, action) == (action in expected[role]), (role, action)
    assert set(PERMISSIONS) == set(Role)


def test_require_refuses_without_a_session_and_beyond_the_role() -> None:
    nobody = SimpleNamespace(state=SimpleNamespace())
    with pytest.raises(NotSignedIn) as exc:
        require(nobody, Action.VIEW)
    assert exc.value.status == 401
    reader = SimpleNamespace(
        state=SimpleNamespace(staff_session=SimpleNamespace(role=Role.READ_ONLY))
    )
    assert require(reader, Action.VIEW) is reader.state.staff_session
    with pytest.raises(NotAllowed) as exc2:
        require(reader, Action.APPROVE)
    assert exc2.value.status == 403


# Token bucket (pure).


def test_token_bucket_limits_each_address_and_refills() -> None:
    bucket = TokenBucket(capacity=3, per_second=0.5, max_clients=2)
    assert [bucket.take("a", now=0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a", now=0) == pytest.approx(2.0)
    assert bucket.take("b", now=0) == 0.0  # another address is not affected
    assert bucket.take("a", now=2.0) == 0.0  # one token back after 2 s
    assert bucket.take("a", now=2.0) > 0
    bucket.take("c", now=3.0)  # a third address: the least recent ("b") is forgotten
    assert "b" not in bucket._buckets
    assert len(bucket._buckets) == 2


# Accounts, on every backend.


def test_create_and_sign_in_audited_without_the_username(engine: sa.Engine) -> None:
    accounts = make_accounts(engine)
    made = accounts.create("Ana.Lopez@example.com", PW, "admin", now=T0)
    assert (made.username, made.role) == ("ana.lopez@example.com", Role.ADMIN)
    signed = accounts.authenticate("ANA.LOPEZ@EXAMPLE.COM", PW, now=T0)
    assert signed.id == made.id
    ref = f"staff:{made.id}"
    assert [(a, actor, subject) for a, actor, subject, _ in trail(accounts)] == [
        ("staff.account_created", "system", ref),
        ("staff.login", ref, ref),
    ]
    assert all("ana" not in str(entry) for entry in trail(accounts))
    assert accounts.audit.verify().ok


def test_every_failure_looks_the_same_and_is_audited_by_reason(engine: sa.Engine) -> None:
    accounts = make_accounts(engine, max_failures=2)
    ana = accounts.create("ana", PW, Role.REVIEWER, now=T0)
    bea = accounts.create("bea", PW, Role.REVIEWER, now=T0)
    accounts.disable(bea.id, now=T0)
    messages = set()
    attempts = [("nobody@example.com", PW), ("ana", "wrong password!"), ("ana", "wrong again!!")]
    attempts += [("ana", PW), ("bea", PW)]  # ana is now locked; bea is disabled
    for name, password in attempts:
        with pytest.raises(LoginFailed) as exc:
            accounts.authenticate(name, password, now=T0)
        messages.add(exc.value.message)
    assert len(messages) == 1
    failures = [
        (subject, json.loads(body))
        for action, _, subject, body in trail(accounts)
        if action == "staff.login_failed"
    ]
    a, b = f"staff:{ana.id}", f"staff:{bea.id}"
    assert failures == [
        ("unknown", {"reason": "unknown_account", "locked": False}),
        (a, {"reason": "wrong_password", "locked": False}),
        (a, {"reason": "wrong_password", "locked": True}),
        (a, {"reason": "locked", "locked": True}),
        (b, {"reason": "disabled", "locked": False}),
    ]
    assert all("nobody" not in str(entry) for entry in trail(accounts))


def test_lockout_after_five_failures_and_unlock_after_fifteen_minutes(engine: sa.Engine) -> None:
    accounts = make_accounts(engine)
    ana = accounts.create("ana", PW, "reviewer", now=T0)
    for i in range(5):
        with pytest.raises(LoginFailed):
            accounts.authenticate("ana", f"wrong password {i}", now=T0 + dt.timedelta(minutes=i))
    locked_at = T0 + dt.timedelta(minutes=4)
    assert accounts.get(ana.id).locked_until == locked_at + dt.timedelta(minutes=15)
    with pytest.raises(LoginFailed):  # the right password does not help while locked
        accounts.authenticate("ana", PW, now=locked_at + dt.timedelta(minutes=14, seconds=59))
    assert accounts.authenticate("ana", PW, now=locked_at + dt.timedelta(minutes=15)).id == ana.id
    assert accounts.get(ana.id).locked_until is None


def test_failures_spread_beyond_the_window_do_not_lock(engine: sa.Engine) -> None:
    accounts = make_accounts(engine)
    accounts.create("ana", PW, "reviewer", now=T0)
    for minute in (0, 5, 10, 14, 16, 20, 25, 29):
        with pytest.raises(LoginFailed):
            accounts.authenticate("ana", "wrong password!", now=T0 + dt.timedelta(minutes=minute))
    # Minutes 16..29 are four failures in the window that began at minute 16.
    assert accounts.authenticate("ana", PW, now=T0 + dt.timedelta(minutes=30)).username == "ana"


def test_a_success_resets_the_count(engine: sa.Engine) -> None:
    accounts = make_accounts(engine, max_failures=3)
    accounts.create("ana", PW, "reviewer", now=T0)
    for _ in range(2):
        for _ in range(2):
            with pytest.raises(LoginFailed):
                accounts.authenticate("ana", "wrong password!", now=T0)
        accounts.authenticate("ana", PW, now=T0)


def test_parallel_wrong_guesses_cannot_exceed_the_limit(engine: sa.Engine) -> None:
    accounts = make_accounts(engine)
    ana = accounts.create("ana", PW, "reviewer", now=T0)
    threads, start = 12, threading.Barrier(12)
    outcomes: list[str] = []

    def guess(i: int) -> None:
        start.wait()
        try:
            accounts.authenticate("ana", f"wrong guess {i:04}", now=T0)
            outcomes.append("in")
        except LoginFailed:
            outcomes.append("refused")

    workers = [threading.Thread(target=guess, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert outcomes == ["refused"] * threads
    reasons = [
        json.loads(body)["reason"]
        for action, _, _, body in trail(accounts)
        if action == "staff.login_failed"
    ]
    # Only five guesses were checked against the password; the rest met the lock.
    assert reasons.count("wrong_password") == 5
    assert reasons.count("locked") == threads - 5
    assert accounts.get(ana.id).locked_until == T0 + dt.timedelta(minutes=15)
    with pytest.raises(LoginFailed):
        accounts.authenticate("ana", PW, now=T0)


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(engine: sa.Engine) -> None:
    make_accounts(engine).create("ana", PW, "admin", now=T0)
    stronger = Parameters(
        type=Type.ID,
        version=19,
        salt_len=16,
        hash_len=32,
        time_cost=2,
        memory_cost=2048,
        parallelism=1,
    )
    upgraded = StaffAccounts(engine, AuditLog(engine), passwords=Passwords(stronger))
    upgraded.authenticate("ana", PW, now=T0)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(staff_accounts.c.password_hash)).scalar_one()
    assert extract_parameters(stored) == stronger
    assert upgraded.authenticate("ana", PW, now=T0).username == "ana"


def test_hostile_usernames_and_roles_change_nothing(engine: sa.Engine) -> None:
    accounts = make_accounts(engine)
    for name in [
        "<script>alert(1)</script>",
        "аdmin",  # noqa: RUF001
        "x" * 1_000_000,
        "",
        "robert'); DROP TABLE staff_accounts;--",
    ]:
        with pytest.raises(InvalidUsername):
            accounts.create(name, PW, "admin", now=T0)
        with pytest.raises(LoginFailed):
            accounts.authenticate(name, PW, now=T0)
    with pytest.raises(InvalidRole):
        accounts.create("ana", PW, "superuser", now=T0)
    with pytest.raises(PasswordRefused):
        accounts.create("ana", "ana", "admin", now=T0)
    assert accounts.all() == []
    assert {subject for _, _, subject, _ in trail(accounts)} == {"unknown"}


def test_usernames_are_unique_whatever_their_case(engine: sa.Engine) -> None:
    accounts = make_accounts(engine)
    accounts.create("ana", PW, "admin", now=T0)
    with pytest.raises(AccountExists):
        accounts.create("ANA", PW + "x", "reviewer", now=T0)
    with pytest.raises(NoSuchAccount):
        accounts.get(999)
    assert [a.username for a in accounts.all()] == ["ana"]


def test_password_change_and_disabling_end_sessions(engine: sa.Engine) -> None:
    accounts, sessions = make_accounts(engine), StaffSessions(engine)
    ana = accounts.create("ana", PW, "reviewer", now=T0)
    token, _ = sessions.start(ana, now=T0)
    accounts.set_password(ana.id, "a brand new passphrase", now=T0)
    assert sessions.load(token, now=T0) is None
    with pytest.raises(LoginFailed):
        accounts.authenticate("ana", PW, now=T0)
    ana = accounts.authenticate("ana", "a brand new passphrase", now=T0)
    token, _ = sessions.start(ana, now=T0)
    accounts.set_role(ana.id, "read_only", now=T0)
    loaded = sessions.load(token, now=T0)
    assert loaded is not None
    assert loaded.role is Role.READ_ONLY
    accounts.disable(ana.id, now=T0)
    accounts.disable(ana.id, now=T0)  # twice changes nothing
    assert sessions.load(token, now=T0) is None
    actions = [action for action, *_ in trail(accounts)]
    assert actions.count("staff.account_disabled") == 1
    assert "staff.password_changed" in actions
    assert "staff.role_changed" in actions


# Sessions, on every backend.


def test_sessions_expire_when_idle_and_at_the_absolute_limit(engine: sa.Engine) -> None:
    accounts, sessions = make_accounts(engine), StaffSessions(engine)
    ana = accounts.create("ana", PW, "admin", now=T0)
    token, started = sessions.start(ana, now=T0)
    assert started.expires_at == T0 + dt.timedelta(hours=12)
    minutes = dt.timedelta(minutes=1)
    assert sessions.load(token, now=T0 + 29 * minutes) is not None
    assert sessions.load(token, now=T0 + 58 * minutes) is not None  # the last load counted
    assert sessions.load(token, now=T0 + 88 * minutes) is None  # 30 minutes idle
    token, _ = sessions.start(ana, now=T0)
    at = T0
    while at < T0 + dt.timedelta(hours=12) - 20 * minutes:
        at += 20 * minutes
        assert sessions.load(token, now=at) is not None
    assert sessions.load(token, now=T0 + dt.timedelta(hours=12)) is None  # however active


def test_each_sign_in_gets_a_new_token_and_revoked_ones_are_refused(engine: sa.Engine) -> None:
    accounts, sessions = make_accounts(engine), StaffSessions(engine)
    ana = accounts.create("ana", PW, "admin", now=T0)
    first, one = sessions.start(ana, now=T0)
    second, two = sessions.start(ana, now=T0)
    assert first != second
    assert one.id != two.id
    assert one.csrf_secret != two.csrf_secret
    assert re.fullmatch(r"[0-9a-f]{64}", one.id)
    assert first not in one.id
    sessions.revoke(first, now=T0)
    assert sessions.load(first, now=T0) is None
    assert sessions.load(second, now=T0) is not None
    assert sessions.revoke_all(ana.id, now=T0) == 1
    assert sessions.load(second, now=T0) is None
    for junk in ("", "x", "a" * 43 + "\x00", "é" * 43, "a" * 100_000):
        assert sessions.load(junk, now=T0) is None
        sessions.revoke(junk)
    assert sessions.purge(now=T0) == 2


# The sign-in pages (SQLite; the stores themselves are tested on every backend above).


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def web_app(
    engine: sa.Engine, *, development: bool = True, limiter: TokenBucket | None = None
) -> Starlette:
    app = Starlette(
        routes=routes(limiter=limiter),
        middleware=[Middleware(SecurityHeaders, development=development)],
        exception_handlers={CovenantError: covenant_error},
    )
    audit = AuditLog(engine)
    app.state.settings = Settings(config=MINI, development=development)
    app.state.keys = Keys(b"k" * 32)
    app.state.audit = audit
    app.state.staff = StaffAccounts(engine, audit, passwords=Passwords(FAST))
    app.state.sessions = StaffSessions(engine)
    return app


def client_of(app: Starlette, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
def app(sqlite_engine: sa.Engine) -> Starlette:
    app = web_app(sqlite_engine)
    app.state.staff.create("ana", PW, "reviewer", now=T0)
    return app


@pytest.fixture
async def web(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str = "ana", password: str = PW
) -> httpx.Response:
    token = csrf_of(await client.get("/admin/login"))
    form = {"csrf_token": token, "username": username, "password": password}
    return await client.post("/admin/login", data=form)


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.anyio
async def test_the_login_page_is_accessible_and_strict(web: httpx.AsyncClient) -> None:
    page = await web.get("/admin/login")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert '<label for="username">' in page.text
    assert '<label for="password">' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert "<script" not in page.text
    assert "style=" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "httponly" in page.headers["set-cookie"].lower()
    css = await web.get("/admin/static/console.css")
    assert css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text


@pytest.mark.anyio
async def test_signing_in_and_out(web: httpx.AsyncClient) -> None:
    done = await sign_in(web)
    assert (done.status_code, done.headers["location"]) == (303, "/admin")
    cookie = done.headers["set-cookie"].lower()
    assert cookie.startswith(f"{DEV_COOKIE}=")
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    page = await web.get("/admin/account")
    assert page.status_code == 200
    assert "<dd>ana</dd>" in page.text
    assert "<dd>Reviewer</dd>" in page.text
    assert (await web.get("/admin/login")).headers["location"] == "/admin"
    assert (await web.get("/admin/logout")).status_code == 405
    refused = await web.post("/admin/logout", data={"csrf_token": "nope"})
    assert refused.status_code == 403
    assert (await web.get("/admin/account")).status_code == 200  # still signed in
    out = await web.post("/admin/logout", data={"csrf_token": csrf_of(page)})
    assert (out.status_code, out.headers["location"]) == (303, "/admin/login")
    gone = await web.get("/admin/account")
    assert (gone.status_code, gone.headers["location"]) == (303, "/admin/login")


@pytest.mark.anyio
async def test_wrong_password_and_unknown_user_get_the_same_page(web: httpx.AsyncClient) -> None:
    wrong = await sign_in(web, password="not the password")
    unknown = await sign_in(web, username="nobody")
    assert wrong.status_code == unknown.status_code == 400
    error = re.compile(r'<li><a href="#username">([^<]+)</a></li>')
    assert error.findall(wrong.text) == error.findall(unknown.text) == [LoginFailed().message]
    assert DEV_COOKIE not in wrong.cookies
    assert DEV_COOKIE not in web.cookies


@pytest.mark.anyio
async def test_missing_fields_are_named_and_linked(web: httpx.AsyncClient) -> None:
    token = csrf_of(await web.get("/admin/login"))
    form = {"csrf_token": token, "username": "ana", "password": ""}
    page = await web.post("/admin/login", data=form)
    assert page.status_code == 400
    assert '<a href="#password">Enter your password.</a>' in page.text
    assert 'aria-describedby="password-error"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert "<title>Error: Sign in" in page.text


@pytest.mark.anyio
async def test_sign_in_needs_a_csrf_token_and_the_same_origin(web: httpx.AsyncClient) -> None:
    await web.get("/admin/login")
    no_token = await web.post("/admin/login", data={"username": "ana", "password": PW})
    assert no_token.status_code == 403
    assert no_token.text == (
        "This form expired or came from another site. Go back, reload the page and try again."
    )
    token = csrf_of(await web.get("/admin/login"))
    form = {"csrf_token": token, "username": "ana", "password": PW}
    cross = await web.post("/admin/login", data=form, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    same = await web.post("/admin/login", data=form, headers={"Origin": "http://testserver"})
    assert same.status_code == 303


@pytest.mark.anyio
async def test_a_session_planted_before_sign_in_is_not_the_one_after(
    app: Starlette, web: httpx.AsyncClient
) -> None:
    sessions: StaffSessions = app.state.sessions
    token = csrf_of(await web.get("/admin/login"))
    # Someone plants a session token of theirs in this browser; then ana signs in.
    mallory = app.state.staff.create("mallory", PW, "read_only", now=T0)
    planted, _ = sessions.start(mallory, now=dt.datetime.now(dt.UTC))
    web.cookies.set(DEV_COOKIE, planted)
    form = {"csrf_token": token, "username": "ana", "password": PW}
    done = await web.post("/admin/login", data=form)
    fresh = done.cookies[DEV_COOKIE]
    assert fresh != planted
    assert sessions.load(planted, now=dt.datetime.now(dt.UTC)) is None
    assert sessions.load(fresh, now=dt.datetime.now(dt.UTC)) is not None


@pytest.mark.anyio
async def test_hostile_input_gets_a_clear_answer(app: Starlette, web: httpx.AsyncClient) -> None:
    hostile = await sign_in(web, username='<script>alert("x")</script>')
    assert hostile.status_code == 400
    assert "<script>" not in hostile.text
    assert "&lt;script&gt;" in hostile.text
    token = csrf_of(await web.get("/admin/login"))
    huge = {"csrf_token": token, "username": "a" * 10_000_000, "password": PW}
    too_large = await web.post("/admin/login", data=huge)
    assert too_large.status_code == 413
    assert too_large.text == "The form is larger than a sign-in form can be."
    as_json = await web.post("/admin/login", json={"username": "ana", "password": PW})
    assert as_json.status_code == 400
    assert "x-www-form-urlencoded" in as_json.text
    body = f"csrf_token={token}&username=ana&username=bea&password=x"
    twice = await web.post("/admin/login", content=body, headers=FORM)
    assert twice.status_code == 400
    assert "twice" in twice.text
    binary = await web.post("/admin/login", content=b"username=\xff\xfe", headers=FORM)
    assert binary.status_code == 400
    assert [a.username for a in app.state.staff.all()] == ["ana"]


@pytest.mark.anyio
async def test_sign_in_is_rate_limited_per_address(sqlite_engine: sa.Engine) -> None:
    app = web_app(sqlite_engine, limiter=TokenBucket(capacity=2, per_second=0.01))
    async with client_of(app) as client:
        assert (await sign_in(client, password="wrong password!")).status_code == 400
        assert (await sign_in(client, password="wrong password!")).status_code == 400
        limited = await sign_in(client)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in limited.text


@pytest.mark.anyio
async def test_outside_development_the_cookie_is_host_prefixed_and_secure(
    sqlite_engine: sa.Engine,
) -> None:
    app = web_app(sqlite_engine, development=False)
    app.state.staff.create("ana", PW, "admin", now=T0)
    async with client_of(app, "https://testserver") as client:
        page = await client.get("/admin/login")
        assert page.headers["set-cookie"].startswith("__Host-covenant_csrf=")
        done = await sign_in(client)
        assert (await client.get("/admin/account")).status_code == 200
    cookie = done.headers["set-cookie"].lower()
    assert cookie.startswith(f"{COOKIE.lower()}=")
    assert "secure" in cookie
    assert "path=/" in cookie
    assert "domain" not in cookie
    assert "strict-transport-security" in done.headers


# The command line.


runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("COVENANT_DATABASE_URL", raising=False)
    monkeypatch.delenv("COVENANT_AUDIT_KEY", raising=False)
    path = tmp_path / "covenant.yml"
    path.write_text("# the declaration; staff commands only need its folder\n")
    return path


def test_cli_needs_the_database_upgraded_first(config: Path) -> None:
    result = runner.invoke(staff_cli, ["list", "--config", str(config)])
    assert result.exit_code == 3
    assert "run covenant db upgrade first" in result.stderr


def test_cli_add_list_disable(config: Path) -> None:
    upgrade(sa.make_url(f"sqlite:///{config.parent}/covenant-state.db"))
    args = ["--config", str(config)]
    added = runner.invoke(
        staff_cli, ["add", "Ana", "--role", "admin", "--password-stdin", *args], input=PW + "\n"
    )
    assert added.exit_code == 0, added.output
    assert "added: ana (admin)" in added.stdout
    assert PW not in added.output
    prompted = runner.invoke(
        staff_cli, ["add", "bea", "--role", "read_only", *args], input=f"{PW}!\n{PW}!\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert PW not in prompted.stdout  # the hidden prompt does not echo it
    listed = runner.invoke(staff_cli, ["list", "--json", *args])
    assert [(a["username"], a["role"]) for a in json.loads(listed.stdout)] == [
        ("ana", "admin"),
        ("bea", "read_only"),
    ]
    assert runner.invoke(staff_cli, ["disable", "BEA", *args]).exit_code == 0
    table = runner.invoke(staff_cli, ["list", *args]).stdout
    assert "disabled" in table
    assert "active" in table


def test_cli_refuses_bad_input_clearly(config: Path) -> None:
    upgrade(sa.make_url(f"sqlite:///{config.parent}/covenant-state.db"))
    args = ["--config", str(config)]
    short = runner.invoke(
        staff_cli, ["add", "ana", "--role", "admin", "--password-stdin", *args], input="short\n"
    )
    assert short.exit_code == 2
    assert "at least 12 characters" in short.stderr
    hostile = runner.invoke(
        staff_cli, ["add", "<b>x</b>", "--role", "admin", "--password-stdin", *args], input=PW
    )
    assert hostile.exit_code == 2
    assert "1 to 128 characters" in hostile.stderr
    role = runner.invoke(
        staff_cli, ["add", "ana", "--role", "root", "--password-stdin", *args], input=PW
    )
    assert role.exit_code == 2
    as_argument = runner.invoke(
        staff_cli, ["add", "ana", "--role", "admin", "--password", PW, *args]
    )
    assert as_argument.exit_code == 2  # there is no such option
    assert runner.invoke(staff_cli, ["disable", "nobody", *args]).exit_code == 2
    assert json.loads(runner.invoke(staff_cli, ["list", "--json", *args]).stdout) == []
