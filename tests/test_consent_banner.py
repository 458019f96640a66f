"""The consent banner: its configuration from the declaration, its routes, and the banner
itself in real headless Chromium.

The browser part needs Node.js, Chromium from the OS and ``npm ci`` in ``tests/a11y``
(playwright-core, axe-core), as ``tests/test_notice_a11y.py`` does, and skips saying
what is missing. It starts the real app with uvicorn on a free port and runs
``tests/browser/banner.mjs``, which reports what each scenario showed; the assertions,
and the check that each decision reached the consent API, are here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from covenant.consent.banner import (
    COOKIE_NAME,
    PLACEHOLDER,
    banner_config,
    default_jurisdiction,
    jurisdiction_for,
    mode,
    render_script,
    statement_ref,
    to_json,
)
from covenant.consent.banner_web import routes
from covenant.consent.decisions import Policy, decide
from covenant.consent.records import Topic
from covenant.consent.signals import Signals
from covenant.declaration import Loaded, load
from covenant.declaration.model import Tracker
from covenant.notice.store import VersionStore
from covenant.notice.versions import Version
from covenant.settings import Settings
from covenant.web import create_app
from tests.test_examples import AUDIO, MUSIC
from tests.test_notice_a11y import FAILING, _requirements

BROWSER = Path(__file__).parent / "browser" / "banner.mjs"
SCRIPT = Path(__file__).parent.parent / "src" / "covenant" / "consent" / "static" / "consent.js"
API_KEY = "banner-test-key-0123456789abcdef"
SECRET = "banner-test-secret-0123456789abcdef0123456789"
"""Given, so the app never writes a key file into the example's folder."""


def settings_for(state: Path, **extra: Any) -> Settings:
    """The audio store's service, its own database in ``state``, nothing written beside
    the example's declaration."""
    return Settings(config=AUDIO, database_url=f"sqlite:///{state}", secret_key=SECRET, **extra)


@pytest.fixture(scope="module")
def audio() -> Loaded:
    return load(AUDIO)


@pytest.fixture(scope="module")
def music() -> Loaded:
    return load(MUSIC)


def config_of(loaded: Loaded, **kwargs: Any) -> dict[str, Any]:
    """The configuration as the script receives it: through JSON."""
    statement = statement_ref(loaded.declaration, [])
    parsed: dict[str, Any] = json.loads(
        to_json(banner_config(loaded, statement=statement, **kwargs))
    )
    return parsed


def with_organization(loaded: Loaded, **changes: Any) -> Loaded:
    org = loaded.declaration.organization.model_copy(update=changes)
    return dataclasses.replace(
        loaded, declaration=loaded.declaration.model_copy(update={"organization": org})
    )


# ---- the configuration, from the declaration ------------------------------------------


def test_categories_and_texts_come_from_the_declared_trackers(audio: Loaded) -> None:
    config = config_of(audio)
    cats = {c["key"]: c for c in config["categories"]}
    assert list(cats) == ["strictly_necessary", "functional", "analytics", "advertising"]
    assert [c["required"] for c in cats.values()] == [True, False, False, False]
    for tracker in audio.declaration.trackers:
        listed = cats[tracker.category]["trackers"]
        assert {
            "name": tracker.name,
            "vendor": tracker.vendor,
            "purpose": tracker.purpose,
            "lifetime": tracker.lifetime,
            "opt_out_url": tracker.opt_out_url,
        } in listed
    # The banner's own cookie is disclosed with the necessary ones, not hidden.
    assert "Privacy choices cookie" in [t["name"] for t in cats["strictly_necessary"]["trackers"]]
    assert config["cookie"] == {"name": COOKIE_NAME, "max_age_days": 180}
    assert config["organization"] == "Resonance Audio"
    assert config["texts"]["title"] == "Your privacy choices at Resonance Audio"
    assert config["statement"] == {
        "url": "https://resonance-audio.example/privacy",
        "version": "2026-01-15",
        "material_version": "2026-01-15",
    }
    assert config["api"] == "/api/v1/consent"


def test_a_category_without_trackers_is_not_offered(audio: Loaded) -> None:
    trackers = [t for t in audio.declaration.trackers if t.category != "functional"]
    loaded = dataclasses.replace(
        audio, declaration=audio.declaration.model_copy(update={"trackers": trackers})
    )
    keys = [c["key"] for c in config_of(loaded)["categories"]]
    assert keys == ["strictly_necessary", "analytics", "advertising"]


def test_gpc_covers_the_sale_and_sharing_category_and_purposes(music: Loaded) -> None:
    config = config_of(music)
    cats = {c["key"]: c for c in config["categories"]}
    assert [k for k, c in cats.items() if c["gpc"]] == ["advertising"]
    # Policy: a recipient's sale (partner marketing), the affiliate network's sharing, ads.
    assert config["sale_purposes"] == ["partner_marketing", "affiliate_program", "advertising"]
    names = {p.key: p.name for p in music.declaration.purposes}
    for key in config["sale_purposes"]:
        assert names[key] in cats["advertising"]["description"]
    assert "sale or sharing" in config["texts"]["intro_opt_out"]
    assert config["texts"]["gpc_honoured"].startswith(
        "Your browser's Global Privacy Control signal was honoured"
    )


def test_modes_follow_the_same_rule_as_the_decisions(audio: Loaded) -> None:
    config = config_of(audio)
    assert config["modes"] == {
        "us-ca": "opt-out",
        "eu": "opt-in",
        "uk": "opt-in",
        "us": "opt-out",
        "ca": "opt-in",
        "in": "opt-in",
    }
    # With nothing on record, the API allows analytics exactly where the banner runs it.
    policy = Policy.from_declaration(audio.declaration)
    for where, shown in config["modes"].items():
        answer = decide([], Topic("category", "analytics"), policy=policy, jurisdiction=where)
        assert answer.allowed == (shown == "opt-out"), where
        assert mode(where) == shown


def test_an_unknown_place_gets_the_strictest_declared_regime(audio: Loaded, music: Loaded) -> None:
    assert audio.declaration.organization.jurisdictions == ["us-ca", "eu"]
    assert default_jurisdiction(["us-ca", "eu"]) == "eu"
    assert config_of(audio)["jurisdiction"] == "eu"
    assert config_of(music)["jurisdiction"] == "us"  # no opt-in jurisdiction declared


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("DE", "eu"),
        ("fr", "eu"),
        ("NO", "eu"),
        ("GB", "uk"),
        ("US", "us"),
        (" IN ", "in"),
        ("BR", "us"),
        ("XX", "us"),
        ("", "us"),
        (None, "us"),
        ("<script>", "us"),
        ("D" * 10_000, "us"),
    ],
)
def test_the_country_header_maps_to_a_jurisdiction(country: str | None, expected: str) -> None:
    assert jurisdiction_for(country, ["us", "us-ca"]) == expected


def test_dnt_follows_the_declaration_and_is_described_truthfully(audio: Loaded) -> None:
    ignored = config_of(audio, signals=Signals(dnt=True))
    assert ignored["dnt_honoured"] is False
    assert ignored["signals"] == {"gpc": False, "dnt": True}
    assert not any(c["dnt"] for c in ignored["categories"])
    assert ignored["dnt_purposes"] == []
    assert "does not change what it does" in ignored["texts"]["dnt_not_honoured"]

    honoured = config_of(with_organization(audio, dnt="honoured"))
    assert honoured["dnt_honoured"] is True
    assert [c["key"] for c in honoured["categories"] if c["dnt"]] == ["analytics", "advertising"]
    assert honoured["dnt_purposes"] == ["site_analytics", "affiliate_credit", "advertising"]


def test_the_statement_version_is_the_latest_published_one(audio: Loaded) -> None:
    def version(number: int, material: bool) -> Version:
        return Version(number, "2026-01-15", "2026-01-15T00:00:00+00:00", "d", material, (), {})

    ref = statement_ref(audio.declaration, [version(2, False), version(1, True)])
    assert (ref.version, ref.material_version) == ("2", "1")
    ref = statement_ref(audio.declaration, [version(1, True), version(2, False), version(3, True)])
    assert (ref.version, ref.material_version) == ("3", "3")
    unpublished = with_organization(audio, statement_url=None)
    assert statement_ref(unpublished.declaration, []).url == "/privacy/statement"


def test_declaration_text_cannot_break_out_of_the_script(audio: Loaded) -> None:
    hostile = "</script><img src=x onerror=alert(1)>\u2028\u2029 & 'quotes' \"too\""
    tracker = Tracker(
        key="evil",
        name=hostile,
        vendor=hostile,
        category="analytics",
        purpose=hostile,
        lifetime="1 day",
    )
    loaded = dataclasses.replace(
        audio,
        declaration=audio.declaration.model_copy(
            update={"trackers": [*audio.declaration.trackers, tracker]}
        ),
    )
    config = banner_config(loaded, statement=statement_ref(loaded.declaration, []))
    text = to_json(config)
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert text.isascii()
    parsed = json.loads(text)
    analytics = next(c for c in parsed["categories"] if c["key"] == "analytics")
    assert hostile in [t["name"] for t in analytics["trackers"]]
    script = render_script(SCRIPT.read_text(encoding="utf-8"), config)
    assert PLACEHOLDER not in script
    assert text in script


def test_the_template_must_hold_the_placeholder_once(audio: Loaded) -> None:
    config = banner_config(audio, statement=statement_ref(audio.declaration, []))
    with pytest.raises(ValueError, match="exactly once"):
        render_script("(() => {})();", config)
    with pytest.raises(ValueError, match="exactly once"):
        render_script(PLACEHOLDER * 2, config)


def test_the_script_writes_text_only_and_stays_small() -> None:
    """Declaration text reaches the page through textContent only: no HTML parser, no eval."""
    source = SCRIPT.read_text(encoding="utf-8")
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "Function(",
    ):
        assert sink not in source
    assert source.count(PLACEHOLDER) == 1
    assert len(source.encode("utf-8")) < 24 * 1024


# ---- the routes, in process -------------------------------------------------------------


def banner_app(settings: Settings) -> Starlette:
    """The real app, with the banner's routes added unless the factory already has them."""
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/consent.js" for r in app.routes):
        app.router.routes.extend(routes())
    return app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(tmp_path / "state.db")
    transport = httpx.ASGITransport(app=banner_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


def served_config(response: httpx.Response) -> dict[str, Any]:
    match = re.search(r"const CONFIG = (\{.*?\});\n", response.text)
    assert match, "no configuration in the served script"
    parsed: dict[str, Any] = json.loads(match.group(1))
    return parsed


@pytest.mark.anyio
async def test_the_script_is_served_with_its_configuration(
    client: httpx.AsyncClient, audio: Loaded
) -> None:
    r = await client.get("/consent.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert [v.strip() for v in r.headers["vary"].split(",")] == ["Sec-GPC", "DNT", "CF-IPCountry"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    expected = banner_config(audio, statement=statement_ref(audio.declaration, []))
    assert served_config(r) == json.loads(to_json(expected))

    again = await client.get("/consent.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == r.headers["etag"]
    assert again.headers["vary"] == r.headers["vary"]
    weak = await client.get("/consent.js", headers={"if-none-match": f'"x", W/{r.headers["etag"]}'})
    assert weak.status_code == 304


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("lines", "honoured"),
    [
        ([("Sec-GPC", "1")], True),
        ([("Sec-GPC", "0"), ("Sec-GPC", "1")], True),
        ([("Sec-GPC", "0")], False),
        ([("Sec-GPC", "true")], False),
        ([("Sec-GPC", "1;x")], False),
        ([("Sec-GPC", "1, 1")], False),
        ([("Sec-GPC", "01")], False),
        ([], False),
    ],
)
async def test_the_gpc_header_is_parsed_exactly(
    client: httpx.AsyncClient, lines: list[tuple[str, str]], honoured: bool
) -> None:
    """GPC spec §3.3: the value is exactly "1"; anything else is as if absent."""
    r = await client.get("/consent.js", headers=httpx.Headers(lines))
    assert served_config(r)["signals"]["gpc"] is honoured


@pytest.mark.anyio
async def test_dnt_and_country_headers_reach_the_configuration(client: httpx.AsyncClient) -> None:
    r = await client.get("/consent.js", headers={"DNT": "1", "CF-IPCountry": "US"})
    config = served_config(r)
    assert config["signals"]["dnt"] is True
    assert config["jurisdiction"] == "us"
    r = await client.get("/consent.js", headers={"CF-IPCountry": "DE"})
    assert served_config(r)["jurisdiction"] == "eu"
    two = httpx.Headers([("CF-IPCountry", "US"), ("CF-IPCountry", "US")])
    assert served_config(await client.get("/consent.js", headers=two))["jurisdiction"] == "eu"


@pytest.mark.anyio
async def test_a_published_statement_version_is_cited(audio: Loaded, tmp_path: Path) -> None:
    # Published beside a copy's base folder, never into the example's own folder.
    loaded = dataclasses.replace(audio, base_dir=tmp_path)
    store = VersionStore(tmp_path / "statement-versions")
    store.publish(loaded, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    app = banner_app(settings_for(tmp_path / "s.db"))
    app.state.loaded = loaded
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        config = served_config(await c.get("/consent.js"))
    assert config["statement"]["version"] == "1"
    assert config["statement"]["material_version"] == "1"


@pytest.mark.anyio
async def test_the_demo_pages_obey_the_strict_csp(client: httpx.AsyncClient) -> None:
    for path in ("/consent/demo", "/consent/demo/second", "/consent/demo?jurisdiction=us"):
        r = await client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        page = r.text
        # Every script has a src (no inline code), and there is no inline style anywhere.
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
        assert scripts
        assert all('src="' in attrs and not body.strip() for attrs, body in scripts)
        assert "<style" not in page
        assert " style=" not in page
        assert (
            '<script type="text/plain" data-category="analytics" src="/consent/demo/analytics.js">'
            in page
        )
    us = await client.get("/consent/demo?jurisdiction=US")
    assert '<script src="/consent.js" data-jurisdiction="us"></script>' in us.text
    assert 'href="/consent/demo/second?jurisdiction=us"' in us.text


@pytest.mark.anyio
@pytest.mark.parametrize(
    "query",
    [
        "jurisdiction=%3Cscript%3Ealert(1)%3C/script%3E",
        "jurisdiction=eu&jurisdiction=us",
        "jurisdiction=" + "e" * 5000,
        "jurisdiction=",
        "jurisdiction=%E2%80%A8eu",
    ],
)
async def test_a_hostile_jurisdiction_is_refused(client: httpx.AsyncClient, query: str) -> None:
    r = await client.get(f"/consent/demo?{query}")
    assert r.status_code == 400
    assert r.text == "jurisdiction must be a code such as eu, uk, us or us-ca."
    assert "<script" not in r.text


@pytest.mark.anyio
async def test_the_stylesheet_and_demo_assets(client: httpx.AsyncClient) -> None:
    css = await client.get("/consent.css")
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert ".cc-dialog" in css.text
    js = await client.get("/consent/demo/analytics.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "window.__analyticsRan = true" in js.text
    svg = await client.get("/consent/demo/pixel.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    for path in ("/consent/demo/nothing.js", "/consent/demo/..%2f..%2fbanner.py"):
        assert (await client.get(path)).status_code == 404


# ---- the banner in headless Chromium ----------------------------------------------------


@dataclasses.dataclass
class Live:
    url: str
    headers: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The real service on a free port, its consent ledger in a fresh SQLite database."""
    state = tmp_path_factory.mktemp("banner") / "state.db"
    settings = settings_for(state, development=True, api_key=API_KEY)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(banner_app(settings), host="127.0.0.1", port=port, log_level="warning")
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
    yield Live(f"http://127.0.0.1:{port}", {"authorization": f"Bearer {API_KEY}"})
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def report(live: Live) -> dict[str, Any]:
    node, chromium = _requirements()
    done = subprocess.run(
        [node, str(BROWSER), chromium, live.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def scenario(report: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = report[name]
    assert "failed" not in result, result.get("failed")
    assert result["errors"] == [], result["errors"]
    return result


def decision(live: Live, consent_id: str, where: str, **topic: str) -> dict[str, Any]:
    r = httpx.get(
        f"{live.url}/api/v1/consent/decision",
        params={"consent_id": consent_id, "jurisdiction": where, **topic},
        headers=live.headers,
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def shows(page: dict[str, Any], **expected: Any) -> None:
    """``page`` (one look at a page) has these values; the report names what differs."""
    assert {k: page[k] for k in expected} == expected


def test_browser_the_banner_appears_and_the_keyboard_stays_in_it(report: dict[str, Any]) -> None:
    seen = scenario(report, "appears")
    nothing_ran = {"analytics": False, "advertising": False, "blocked": 2, "pixel": None}
    shows(
        seen["before"],
        dialog=True,
        modal="true",
        title="Your privacy choices at Resonance Audio",
        # Accept, reject and choose: side by side, equally easy (GDPR Art. 7(3)).
        buttons=["Accept all", "Reject all", "Choose"],
        mode="opt-in",
        cookie=False,
        **nothing_ran,
    )
    assert all(seen["focus"]), "Tab or Shift+Tab left the dialog"
    shows(seen["escaped"], dialog=False, cookie=False, **nothing_ran)
    assert seen["choicesShown"]
    assert seen["labelled"] == 1
    assert seen["focusBack"] == "Privacy choices"
    assert seen["reloaded"]["dialog"], "closing with Escape is not a choice: ask again"


def test_browser_the_dialog_passes_axe(report: dict[str, Any]) -> None:
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['targets']}"
        for v in scenario(report, "axe")["violations"]
        if v["impact"] in FAILING
    ]
    assert not bad, "\n".join(bad)


def test_browser_reject_keeps_the_analytics_script_from_running(
    report: dict[str, Any], live: Live
) -> None:
    seen = scenario(report, "reject")
    assert seen["post"]["status"] == 201
    for page in (seen["after"], seen["second"]):
        shows(
            page,
            dialog=False,
            analytics=False,
            analyticsShown=False,
            advertising=False,
            blocked=2,
            pixel=None,
        )
    consent_id = seen["after"]["consentId"]
    assert seen["second"]["consentId"] == consent_id
    for category in ("analytics", "advertising"):
        answer = decision(live, consent_id, "eu", category=category)
        assert (answer["allowed"], answer["basis"]) == (False, "denied")
    # Refusing advertising also opts out of the purposes it sells or shares for.
    answer = decision(live, consent_id, "eu", purpose="advertising")
    assert (answer["allowed"], answer["basis"]) == (False, "denied")


def test_browser_accept_runs_it_and_the_choice_persists(report: dict[str, Any], live: Live) -> None:
    seen = scenario(report, "accept")
    shows(seen["before"], dialog=True, analytics=False)
    assert seen["post"]["status"] == 201
    assert seen["post"]["body"]["notice_version"] == "2026-01-15"
    for page in (seen["after"], seen["second"]):
        shows(
            page,
            dialog=False,
            analytics=True,
            analyticsShown=True,
            advertising=True,
            blocked=0,
            pixel="/consent/demo/pixel.svg",
        )
    consent_id = seen["after"]["consentId"]
    assert seen["second"]["consentId"] == consent_id
    answer = decision(live, consent_id, "eu", category="analytics")
    assert (answer["allowed"], answer["basis"]) == (True, "granted")


def test_browser_choose_and_withdraw(report: dict[str, Any], live: Live) -> None:
    seen = scenario(report, "choose")
    shows(seen["after"], analytics=True, advertising=False, blocked=1)
    choices = {c.get("category"): c["choice"] for c in seen["withdrawal"]["body"]["choices"]}
    assert choices["analytics"] == "withdrawn"  # GDPR Art. 7(3): as easy as giving it
    shows(seen["withdrawn"], analytics=False, blocked=2)
    answer = decision(live, seen["after"]["consentId"], "eu", category="analytics")
    assert (answer["allowed"], answer["basis"]) == (False, "withdrawn")


def test_browser_opt_out_runs_everything_without_a_signal(report: dict[str, Any]) -> None:
    """The control for the GPC scenarios below: without a signal, advertising runs in the US."""
    after = scenario(report, "usControl")["after"]
    # The notice is shown at collection, while the defaults run.
    shows(after, mode="opt-out", dialog=True, analytics=True, advertising=True, signal="")


@pytest.mark.parametrize(("name", "method"), [("gpcHeader", "gpc"), ("gpcNavigator", "banner")])
def test_browser_gpc_is_honoured_without_a_click(
    report: dict[str, Any], live: Live, name: str, method: str
) -> None:
    seen = scenario(report, name)
    post = seen["post"]
    assert post["status"] == 201
    assert post["body"]["method"] == method
    assert post["body"]["evidence"] == {"mode": "opt_out", "action": "signal", "signal": "gpc"}
    after = seen["after"]
    # GPC is an opt-out of sale, sharing and targeted advertising, not of analytics.
    shows(after, mode="opt-out", analytics=True, advertising=False, pixel=None, blocked=1)
    assert "Global Privacy Control signal was honoured" in after["signal"]
    assert "won't sell or share" in after["signal"]
    # Recorded without the header on this question: the ledger itself holds the opt-out.
    for topic in ({"category": "advertising"}, {"purpose": "advertising"}):
        answer = decision(live, after["consentId"], "us", **topic)
        assert (answer["allowed"], answer["basis"]) == (False, "denied"), topic
