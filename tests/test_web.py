"""The web service, in process over ASGI: headers, errors, and the public pages."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest

from covenant.declaration import load
from covenant.errors import DeclarationError
from covenant.settings import Settings
from covenant.web import create_app

MINI = Path(__file__).parent / "fixtures" / "mini" / "covenant.yml"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _state() -> str:
    """Covenant's own database for one app: a new SQLite file, never one beside the fixture."""
    return f"sqlite:///{tempfile.mkdtemp()}/state.db"


def client(development: bool = False) -> httpx.AsyncClient:
    app = create_app(Settings(config=MINI, development=development, database_url=_state()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


@pytest.mark.anyio
async def test_strict_headers_on_every_response() -> None:
    async with client() as c:
        for path in ("/healthz", "/no-such-page"):
            r = await c.get(path)
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["strict-transport-security"].startswith("max-age=63072000")


@pytest.mark.anyio
async def test_no_hsts_in_local_development() -> None:
    async with client(development=True) as c:
        r = await c.get("/healthz")
    assert r.json() == {"ok": True}
    assert "strict-transport-security" not in r.headers


def test_a_broken_declaration_stops_the_service_before_it_listens(tmp_path: Path) -> None:
    bad = tmp_path / "covenant.yml"
    bad.write_text("organization: [\n")
    with pytest.raises(DeclarationError, match="malformed YAML"):
        create_app(Settings(config=bad))


def test_settings_come_from_the_environment_and_hide_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COVENANT_PORT", "9123")
    monkeypatch.setenv("COVENANT_SECRET_KEY", "s3cret-value")
    settings = Settings()
    assert settings.port == 9123
    assert "s3cret-value" not in repr(settings)
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "s3cret-value"


def test_the_loaded_declaration_can_be_passed_in() -> None:
    loaded = load(MINI)
    app = create_app(Settings(config=Path("/nonexistent.yml")), loaded=loaded)
    assert app.state.loaded is loaded


AUDIO = Path(__file__).parent.parent / "examples" / "audio-store" / "covenant.yml"


def audio_client() -> httpx.AsyncClient:
    app = create_app(Settings(config=AUDIO, database_url=_state()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


@pytest.mark.anyio
async def test_the_statement_is_served_in_three_forms_with_its_style_sheet() -> None:
    async with audio_client() as c:
        html = await c.get("/privacy/statement")
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        assert 'href="/privacy/statement.css"' in html.text
        assert "Resonance Audio" in html.text
        assert "<style" not in html.text  # the CSP forbids inline style
        css = await c.get("/privacy/statement.css")
        assert css.headers["content-type"].startswith("text/css")
        md = await c.get("/privacy/statement.md")
        assert md.headers["content-type"].startswith("text/markdown")
        assert md.text.startswith("#")
        txt = await c.get("/privacy/statement.txt")
        assert "Resonance Audio" in txt.text
        assert (await c.get("/")).headers["location"] == "/privacy/statement"


@pytest.mark.anyio
async def test_security_txt_is_served_where_rfc_9116_puts_it() -> None:
    async with audio_client() as c:
        r = await c.get("/.well-known/security.txt")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "Contact: mailto:" in r.text
    assert "Expires: " in r.text
