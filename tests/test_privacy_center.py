"""The privacy center over HTTP, in process: the whole journey and its security.

The app runs with its lifespan, so the in-process job runner and the mail
chores are the real ones; the requester reads their mail on the demo's outbox
page, as a person trying the demo does.
"""

from __future__ import annotations

import asyncio
import html
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from covenant.demo.store import DemoStore, create
from covenant.requests.lifecycle import State
from covenant.settings import Settings
from covenant.web import create_app

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    return create(tmp_path_factory.mktemp("center"), customers=30, seed=11)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Center:
    def __init__(self, app: object, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def desk(self):  # type: ignore[no-untyped-def]
        return self.app.state.desk  # type: ignore[attr-defined]

    async def form(self, path: str) -> str:
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        return token.group(1)

    async def submit(self, **fields: str) -> httpx.Response:
        token = await self.form("/privacy/request")
        return await self.client.post("/privacy/request", data={"csrf_token": token, **fields})

    async def mail(self, template: str) -> list[str]:
        page = await self.client.get("/outbox")
        assert page.status_code == 200
        ids = re.findall(r'href="/outbox/([0-9a-f-]{36})"', page.text)
        texts = []
        for entry in ids:
            one = await self.client.get(f"/outbox/{entry}")
            if f">{template}<" in one.text or f"template: {template}" in one.text.lower():
                texts.append(html.unescape(one.text))
        return texts

    async def until(self, rid: str, state: State, timeout: float = 20.0) -> None:
        for _ in range(int(timeout * 10)):
            if self.desk.store.get(rid).state is state:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"request never became {state}: {self.desk.store.get(rid).state}")


@pytest.fixture
async def center(store: DemoStore, tmp_path: Path) -> AsyncIterator[Center]:
    settings = Settings(
        config=store.declaration,
        database_url=f"sqlite:///{tmp_path}/state.db",
        development=True,
        outbox_page=True,
        public_url=BASE,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Center(app, client)


def _person(store: DemoStore) -> tuple[str, dict[str, str]]:
    shop = sa.create_engine(store.database_url)
    with shop.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT c.id, c.email, c.phone, p.card_last4, a.postal_code FROM customers c"
                " JOIN orders o ON o.customer_id = c.id JOIN payments p ON p.order_id = o.id"
                " JOIN addresses a ON a.customer_id = c.id ORDER BY c.id LIMIT 1"
            )
        ).one()
    shop.dispose()
    return row.email, {
        "point_card_last4": row.card_last4,
        "point_shipping_zip": row.postal_code,
        "point_phone": row.phone,
    }


def _status_path(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/privacy/requests/")
    return location.split("?")[0]


@pytest.mark.anyio
async def test_a_person_gets_a_copy_of_their_data_start_to_finish(
    center: Center, store: DemoStore
) -> None:
    email, points = _person(store)
    status = _status_path(await center.submit(kind="access", email=email, jurisdiction="us-ca"))
    rid = status.split("/")[3]
    page = await center.client.get(status + "?m=sent")
    assert "confirm it is you" in page.text.lower()
    assert "We will answer by" in page.text

    # The e-mail: its link opens the status page with the code filled in.
    (message,) = await center.mail("verification")
    link = re.search(rf"{re.escape(BASE)}(/privacy/requests/[\w/-]+)\?code=(\d{{8}})", message)
    assert link is not None
    path, code = link.group(1), link.group(2)
    assert path == status
    opened = await center.client.get(f"{path}?code={code}")
    assert f'value="{code}"' in opened.text  # filled in; a GET does not spend it
    token = re.search(r'name="csrf_token" value="([^"]+)"', opened.text).group(1)  # type: ignore[union-attr]
    confirmed = await center.client.post(f"{path}/code", data={"csrf_token": token, "code": code})
    assert confirmed.status_code == 303
    page = await center.client.get(status)
    assert "A few details to check it is you" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    checked = await center.client.post(
        f"{status}/points", data={"csrf_token": token, **points, "declaration_signed": "yes"}
    )
    assert checked.status_code == 303  # post, then redirect: a reload sends nothing again
    answer = await center.client.get(checked.headers["location"])
    assert "match what we hold" in answer.text

    await center.until(rid, State.COMPLETED)
    (done,) = await center.mail("completion")
    download = re.search(rf"{re.escape(BASE)}(/privacy/download/[\w/-]+)", done)
    assert download is not None
    got = await center.client.get(download.group(1))
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert email in archive.read("data.json").decode()
    actions = [e.action for e in center.desk.store.audit.entries(subject_ref=rid)]
    assert "export.downloaded" in actions
    assert center.desk.store.audit.verify().ok


@pytest.mark.anyio
async def test_answers_never_tell_whether_someone_is_a_customer(
    center: Center, store: DemoStore
) -> None:
    email, _ = _person(store)

    async def journey(address: str) -> tuple[int, str]:
        r = await center.submit(kind="delete", email=address, jurisdiction="us-ca")
        page = await center.client.get(_status_path(r))
        text = re.sub(r"/privacy/requests/[^\"']+|value=\"[^\"]+\"", "X", page.text)
        return r.status_code, text

    assert await journey(email) == await journey("never-bought-anything@example.net")


@pytest.mark.anyio
async def test_forms_need_a_csrf_token_and_refuse_cross_site_posts(center: Center) -> None:
    no_token = await center.client.post(
        "/privacy/request", data={"kind": "access", "email": "a@b.co"}
    )
    assert no_token.status_code == 403
    token = await center.form("/privacy/request")
    cross = await center.client.post(
        "/privacy/request",
        data={"csrf_token": token, "kind": "access", "email": "a@b.co"},
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )
    assert cross.status_code == 403
    with center.desk.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM requests")).scalar_one() == 0


@pytest.mark.anyio
async def test_bad_input_is_shown_back_escaped_and_changes_nothing(center: Center) -> None:
    hostile = '<script>alert("x")</script>'
    r = await center.submit(kind="access", email=hostile, name=hostile, jurisdiction="us-ca")
    assert r.status_code == 400
    assert "<script>alert" not in r.text
    assert "&lt;script&gt;" in r.text
    assert 'href="#email"' in r.text  # the problem links to its field
    huge = await center.client.post(
        "/privacy/request",
        content=b"x" * 200_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    with center.desk.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM requests")).scalar_one() == 0


@pytest.mark.anyio
async def test_links_work_only_for_their_own_request(center: Center) -> None:
    first = _status_path(await center.submit(kind="access", email="one@example.com"))
    second = _status_path(await center.submit(kind="access", email="two@example.com"))
    rid1, token1 = first.split("/")[3:5]
    rid2, token2 = second.split("/")[3:5]
    assert (await center.client.get(f"/privacy/requests/{rid1}/{token2}")).status_code == 404
    assert (await center.client.get(f"/privacy/requests/{rid2}/{token1}")).status_code == 404
    traversal = await center.client.get(f"/privacy/download/{rid1}/..%2F..%2Fcovenant-secret.key")
    assert traversal.status_code == 404
    assert (await center.client.get(f"/privacy/download/{rid1}/{token1}")).status_code == 404


@pytest.mark.anyio
async def test_guessing_codes_is_cut_off(center: Center) -> None:
    status = _status_path(await center.submit(kind="access", email="guess@example.com"))
    rid = status.split("/")[3]
    outcomes = []
    for guess in range(8):
        token = await center.form(status)
        r = await center.client.post(
            f"{status}/code", data={"csrf_token": token, "code": f"{guess:08d}"}
        )
        outcomes.append(r.headers["location"].split("m=")[1])
    assert outcomes[:5] == ["wrong"] * 5
    assert set(outcomes[5:]) == {"expired"}  # spent: even the right code no longer works
    (message,) = await center.mail("verification")
    code = re.search(r"\b(\d{8})\b", message).group(1)  # type: ignore[union-attr]
    assert center.desk.check_code(rid, code).value == "exhausted"


@pytest.mark.anyio
async def test_too_many_posts_from_one_address_are_slowed_down(center: Center) -> None:
    statuses = []
    for _ in range(25):
        token = await center.form("/privacy/request")
        r = await center.client.post(
            "/privacy/request",
            data={"csrf_token": token, "kind": "opt_out_sale", "email": "x@y.co"},
        )
        statuses.append(r.status_code)
    assert 429 in statuses
    assert statuses[0] == 303


@pytest.mark.anyio
async def test_an_opt_out_completes_without_proof(center: Center) -> None:
    status = _status_path(await center.submit(kind="opt_out_sale", email="gpc@example.com"))
    rid = status.split("/")[3]
    await center.until(rid, State.COMPLETED)
    page = await center.client.get(status)
    assert "Your request is complete." in page.text


@pytest.mark.anyio
async def test_pages_are_accessible_in_shape(center: Center) -> None:
    for path in ("/privacy", "/privacy/request", "/privacy/request?kind=delete"):
        page = await center.client.get(path)
        assert page.status_code == 200
        assert '<html lang="en">' in page.text
        assert 'name="viewport"' in page.text
        assert 'class="skip" href="#main"' in page.text
        assert "<script" not in page.text  # works without JavaScript
        for field in re.findall(r'<input[^>]+id="([^"]+)"', page.text):
            assert f'for="{field}"' in page.text, field  # every input has a label


@pytest.mark.anyio
async def test_an_agent_uploads_signed_permission_kept_encrypted(center: Center) -> None:
    pdf = b"%PDF-1.7\n" + b"signed permission " * 100
    token = await center.form("/privacy/request")
    fields = {
        "csrf_token": token,
        "kind": "delete",
        "email": "consumer@example.com",
        "agent_name": "Helpers LLC",
        "agent_email": "agent@helpers.example",
    }
    r = await center.client.post(
        "/privacy/request", data=fields, files={"permission": ("perm.pdf", pdf, "application/pdf")}
    )
    rid = _status_path(r).split("/")[3]
    chunks, media = center.desk.document(rid, 0)
    assert b"".join(chunks) == pdf
    assert media == "application/pdf"
    stored = list(center.desk.files_dir.glob("*.doc"))
    assert stored
    assert all(b"signed permission" not in f.read_bytes() for f in stored)


@pytest.mark.anyio
async def test_uploads_that_are_not_documents_or_too_large_are_refused(center: Center) -> None:
    token = await center.form("/privacy/request")
    fields = {"csrf_token": token, "kind": "access", "email": "a@example.com"}
    script = ("perm.pdf", b"#!/bin/sh\nrm -rf /\n", "application/pdf")  # the name and type lie
    r = await center.client.post("/privacy/request", data=fields, files={"permission": script})
    assert r.status_code == 400
    assert "PDF, PNG or JPEG" in r.text
    assert 'href="#permission"' in r.text  # the problem links to the field that holds it
    huge = ("big.pdf", b"%PDF-" + b"0" * (6 * 1024 * 1024), "application/pdf")
    r = await center.client.post("/privacy/request", data=fields, files={"permission": huge})
    assert r.status_code == 413
    with center.desk.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM requests")).scalar_one() == 0


@pytest.mark.anyio
async def test_staff_read_an_uploaded_document_and_nobody_else_does(center: Center) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    token = await center.form("/privacy/request")
    fields = {
        "csrf_token": token,
        "kind": "access",
        "email": "c@example.com",
        "agent_name": "A",
        "agent_email": "agent@example.com",
    }
    r = await center.client.post(
        "/privacy/request", data=fields, files={"permission": ("p.png", png, "image/png")}
    )
    rid = _status_path(r).split("/")[3]
    path = f"/admin/requests/{rid}/documents/0"
    assert (await center.client.get(path)).status_code == 401  # not signed in
    center.app.state.staff.create("viewer", "a long enough password", "read_only")  # type: ignore[attr-defined]
    login = await center.form("/admin/login")
    signed = await center.client.post(
        "/admin/login",
        data={"csrf_token": login, "username": "viewer", "password": "a long enough password"},
    )
    assert signed.status_code == 303
    got = await center.client.get(path)
    assert got.status_code == 200
    assert got.content == png
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["content-type"] == "image/png"
    assert (await center.client.get(f"/admin/requests/{rid}/documents/1")).status_code == 404


@pytest.mark.anyio
async def test_a_correction_may_come_with_a_document(center: Center) -> None:
    token = await center.form("/privacy/request")
    field = center.desk.correctable_fields()[0][0]
    fields = {
        "csrf_token": token,
        "kind": "correct",
        "email": "fix@example.com",
        "fix_field_0": field,
        "fix_value_0": "New value",
    }
    proof = ("lease.pdf", b"%PDF-1.4\nnew address", "application/pdf")
    r = await center.client.post("/privacy/request", data=fields, files={"evidence": proof})
    rid = _status_path(r).split("/")[3]
    chunks, media = center.desk.document(rid, 0)
    assert media == "application/pdf"
    assert b"".join(chunks).startswith(b"%PDF-1.4")
    assert center.desk.details(rid).corrections == {field: "New value"}
