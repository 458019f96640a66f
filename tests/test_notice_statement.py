"""The privacy statement: golden files for both seed stores, and what each section must say.

Regenerate the golden files after an intended change with
``COVENANT_REGENERATE=1 python -m pytest tests/test_notice_statement.py`` and review
the diff: it is the change in what the statement promises.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from covenant.declaration import Loaded, load
from covenant.notice import build, render
from covenant.notice.document import Bullets, Definitions, Paragraph, Section, Table, plain
from covenant.notice.render import FORMATS, Format
from tests.test_examples import AUDIO, MUSIC, variant

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def audio() -> Loaded:
    return load(AUDIO)


@pytest.fixture(scope="module")
def music() -> Loaded:
    return load(MUSIC)


def _text(loaded: Loaded) -> str:
    """The plain-text statement with its wrapping undone, so phrases match across lines."""
    return " ".join(render(build(loaded), "txt").split())


def _section(loaded: Loaded, section_id: str) -> Section:
    def walk(sections: tuple[Section, ...]) -> Section | None:
        for s in sections:
            if s.id == section_id:
                return s
            found = walk(s.subsections)
            if found:
                return found
        return None

    found = walk(build(loaded).sections)
    assert found is not None, f"no section #{section_id}"
    return found


def _words(section: Section) -> str:
    """Every word of a section and its subsections, in one line of text."""
    out = [section.title]
    for b in section.blocks:
        if isinstance(b, Paragraph):
            out.append(plain(b.text))
        elif isinstance(b, Bullets):
            out += [plain(i) for i in b.items]
        elif isinstance(b, Table):
            out += [b.caption, *b.header, *(plain(c) for row in b.rows for c in row)]
        elif isinstance(b, Definitions):
            out += [f"{t}: {plain(m)}" for t, m in b.items]
    out += [_words(s) for s in section.subsections]
    return " ".join(out)


def _table(section: Section, caption: str) -> Table:
    for b in section.blocks:
        if isinstance(b, Table) and b.caption == caption:
            return b
    raise AssertionError(f"no table {caption!r} in #{section.id}")


# -- Golden files ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("example", [AUDIO, MUSIC], ids=["audio-store", "music-store"])
def test_statement_matches_golden_file(example: Path, fmt: Format) -> None:
    actual = render(build(load(example)), fmt)
    golden = GOLDEN / f"{example.parent.name}.statement.{fmt}"
    if os.environ.get("COVENANT_REGENERATE"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"missing {golden}: run with COVENANT_REGENERATE=1"
    assert actual == golden.read_text(encoding="utf-8"), (
        f"{golden.name} changed; if intended, regenerate with COVENANT_REGENERATE=1 and review"
    )


def test_rendering_is_deterministic(audio: Loaded) -> None:
    assert render(build(audio), "html") == render(build(load(AUDIO)), "html")


# -- What the statement must say ---------------------------------------------------------


def test_controller_contacts_and_effective_date(audio: Loaded) -> None:
    """Seeds P2, P24, H1: controller, e-mail, phone, post, effective date."""
    doc = build(audio)
    assert doc.effective == "January 15, 2026"
    words = _words(_section(audio, "contact"))
    for expected in (
        "Resonance Audio, Inc.",
        "privacy@resonance-audio.example",
        "+1-800-555-0134",
        "100 Harmonic Way",
        "security@resonance-audio.example",
        "OpenPGP key",
    ):
        assert expected in words
    assert "terms of use" in _words(_section(audio, "about"))


def test_collection_is_told_per_context(audio: Loaded, music: Loaded) -> None:
    """Seeds P4, H4: one subsection per source, listing the categories its collections carry."""
    collect = _section(audio, "collect")
    titles = [s.title for s in collect.subsections]
    assert "You, when you return goods" in titles
    assert "Your browser, when you visit the store" in titles
    returns = _words(_section(audio, "collect-consumer_returns"))
    assert "Government ID details" in returns
    assert "preventing fraud" in returns
    music_titles = [s.title for s in _section(music, "collect").subsections]
    for context in ("call center", "return", "register", "contest", "visit", "Affiliates"):
        assert any(context in t for t in music_titles), context
    assert "Information we link to your account is personal information" in _words(collect)


def test_purposes_table_has_legal_basis_only_under_gdpr(audio: Loaded, music: Loaded) -> None:
    """Seed P5: purposes; the legal basis column appears when the EU or UK is served."""
    assert (
        "Legal basis"
        in _table(_section(audio, "purposes"), "Why we use personal information").header
    )
    assert (
        "Legal basis"
        not in _table(_section(music, "purposes"), "Why we use personal information").header
    )


def test_purpose_categories_limit_what_a_purpose_uses(audio: Loaded) -> None:
    rows = _table(_section(audio, "purposes"), "Why we use personal information").rows
    by_email = next(r for r in rows if plain(r[0]) == "Offers by e-mail")
    assert "password" not in plain(by_email[2])
    assert "e-mail address" in plain(by_email[2])
    by_post = next(r for r in rows if plain(r[0]) == "Offers by post")
    assert "postal address" in plain(by_post[2])
    assert "e-mail address" not in plain(by_post[2])


def test_trackers_listed_with_opt_outs(audio: Loaded, music: Loaded) -> None:
    """Seeds P6, P7, H19, H20: every tracker, its vendor, its opt-out; industry opt-outs."""
    cookies = _section(audio, "cookies")
    table = _table(cookies, "Cookies and similar technologies")
    assert [plain(r[0]) for r in table.rows] == [t.name for t in audio.declaration.trackers]
    session = next(r for r in table.rows if plain(r[0]) == "Session cookie")
    assert plain(session[5]) == "Always on: the site needs it"
    html = render(build(music), "html")
    assert 'href="https://tools.google.com/dlpage/gaoptout"' in html
    ads = _words(_section(audio, "interest-based-ads"))
    assert "Network Advertising Initiative" in ads
    assert "Example Ads" in ads


def test_sharing_by_recipient_type_and_what_is_never_shared(music: Loaded) -> None:
    """Seeds P8, H14, H15: recipients grouped by type; marketing partners never get phone, card, e-mail."""
    sharing = _section(music, "sharing")
    titles = [s.title for s in sharing.subsections]
    assert titles[:3] == ["Service providers", "Contractors", "Carriers"]
    never = _words(_section(music, "never-shared"))
    assert "Marketing partners: we never give them your" in never
    for label in ("e-mail address", "phone number", "financial information", "payment information"):
        assert label in never
    other = _words(_section(music, "other-disclosures"))
    assert "sale of our business" in other
    assert "debt" in other


def test_we_do_not_sell_only_when_true(audio: Loaded, music: Loaded) -> None:
    """Seed P14 and CCPA §1798.120: "we do not sell" appears only when nothing is sold."""
    assert "We do not sell your personal information." in _text(audio)
    text = _text(music)
    assert "We do not sell" not in text
    assert "We sell personal information to: Marketing partners." in text


def test_a_recipient_sale_makes_the_statement_say_so(tmp_path: Path) -> None:
    def sell(d: dict[str, Any]) -> None:
        d["organization"]["sells_personal_information"] = True
        d["recipients"][3]["sale"] = True  # marketing partners

    text = _text(variant(tmp_path, AUDIO, sell))
    assert "We do not sell" not in text
    assert "Opt out of sale and sharing" in text


def test_rights_channels_verification_agents_non_discrimination(audio: Loaded) -> None:
    """Seeds P9, P15-P20: rights, every channel, verification steps, agents, fairness."""
    how = _words(_section(audio, "how-to-ask"))
    for channel in ("Online:", "By e-mail:", "By phone:", "By post:"):
        assert channel in how
    assert "within 45 days" in how
    assert "within one month" in how
    verify = _words(_section(audio, "verification"))
    assert "two pieces of information" in verify
    assert "three" in verify
    assert "we verify you by phone" in verify
    assert "we tell you promptly and explain why" in verify
    assert "power of attorney" in _words(_section(audio, "agents"))
    assert "different price" in _words(_section(audio, "non-discrimination"))
    rights = _table(_section(audio, "rights"), "Your rights")
    names = [plain(r[0]) for r in rights.rows]
    assert {"Know and access", "Correct", "Delete", "Opt out of sharing", "Complain"} <= set(names)


def test_retention_rows_from_rules_and_events(music: Loaded) -> None:
    """Seed H26: holds and limits with their reason, event-based retention, what happens then."""
    table = _table(_section(music, "retention"), "How long we keep personal information")
    rows = {plain(r[0]): [plain(c) for c in r[1:]] for r in table.rows}
    assert rows["Orders, order items and payments"][0] == (
        "We must keep them 7 years, counted from when the order was placed"
    )
    assert rows["Web logs"][0] == "At most 12 months, counted from when the page was requested"
    assert "Tax" in rows["Orders, order items and payments"][1]
    assert rows["Call records"][0].startswith("Until you ask us to delete it")
    assert "never more than 5 years" in rows["Call records"][0]


def test_transfers_come_from_locations(audio: Loaded, music: Loaded) -> None:
    """Seeds P11, H3: places from systems and recipients; EU advice only when the EU is not served."""
    table = _table(_section(audio, "transfers"), "Where personal information is processed")
    assert [plain(r[0]) for r in table.rows] == ["The United States", "The European Union", "India"]
    assert "Article 46" in _words(_section(audio, "transfers"))
    music_words = _words(_section(music, "transfers"))
    assert (
        "If you are in the European Union, please do not send us personal information"
        in music_words
    )
    assert "please do not send" not in _words(_section(audio, "transfers"))


def test_minimum_age(audio: Loaded, music: Loaded) -> None:
    """Seeds P12, H2."""
    assert "anyone under 16" in _words(_section(audio, "children"))
    assert "anyone under 18" in _words(_section(music, "children"))


def test_dnt_and_gpc_are_stated_truthfully(audio: Loaded, tmp_path: Path) -> None:
    """Seeds P22, H20: DNT as declared; GPC as an opt-out of sale and sharing."""
    signals = _words(_section(audio, "signals"))
    assert "does not change what it does" in signals
    assert "Global Privacy Control (GPC)" in signals

    def honour(d: dict[str, Any]) -> None:
        d["organization"]["dnt"] = "honoured"

    honoured = _words(_section(variant(tmp_path, AUDIO, honour), "signals"))
    assert "we treat it like Global Privacy Control" in honoured
    assert "does not change" not in honoured


def test_security_section_lists_measures_and_contact(audio: Loaded) -> None:
    """Seeds P10, S1, S2, S3, H21."""
    security = _words(_section(audio, "security"))
    assert "argon2id" in security
    assert "TLS" in security
    assert "A member of our staff acknowledges every report" in security


def test_changes_are_announced_as_declared(audio: Loaded, music: Loaded) -> None:
    """Seeds P23, H28."""
    assert "by a notice on our website, e-mail or a notice in your account" in _words(
        _section(audio, "changes")
    )
    assert "ask for your consent again" in _words(_section(audio, "changes"))
    assert "ask for your consent again" not in _words(_section(music, "changes"))


def test_glossary_defines_seed_terms_and_overrides(audio: Loaded) -> None:
    """Seed P3: aggregate information, cookies, personal data, usage data, web beacons."""
    glossary = _section(audio, "glossary")
    terms = [t for b in glossary.blocks if isinstance(b, Definitions) for t, _ in b.items]
    for term in ("Aggregate information", "Cookie", "Personal information (personal data)",
                 "Usage data", "Web beacon (pixel, clear GIF, tracer tag)", "Companion app"):  # fmt: skip
        assert term in terms
    assert terms == sorted(terms, key=str.lower)


def test_california_tables_are_derived_from_the_declaration(audio: Loaded) -> None:
    """Seed P13; CCPA §1798.110(c), §1798.130(a)(5)(B)."""
    ca = _section(audio, "california")
    categories = _table(ca, "Categories of personal information we collect")
    names = [plain(r[0]) for r in categories.rows]
    assert names[:2] == ["Identifiers", "Customer records"]
    assert "Biometric information" in names
    assert "Geolocation data" in names
    assert "Sensitive personal information" in names
    geo = next(r for r in categories.rows if plain(r[0]) == "Geolocation data")
    assert plain(geo[1]) == "Precise location"
    purposes = _table(ca, "Why we use each category")
    assert plain(next(r for r in purposes.rows if plain(r[0]) == "Geolocation data")[1]) == (
        "The companion app"
    )
    sources = _table(ca, "Where each category comes from")
    bio = next(r for r in sources.rows if plain(r[0]) == "Biometric information")
    assert plain(bio[1]) == "The companion app on your phone"
    disclosures = _table(ca, "Who receives each category")
    internet = next(r for r in disclosures.rows if plain(r[0]).startswith("Internet"))
    assert "Third parties" in plain(internet[1]) or "third parties" in plain(internet[1])
    assert "we have not sold it in the past 12 months" in _words(ca)
    assert "Civil Code section 1798.83" in _words(ca)


def test_no_california_section_without_california(tmp_path: Path) -> None:
    def no_ca(d: dict[str, Any]) -> None:
        d["organization"]["jurisdictions"] = ["eu"]

    ids = [s.id for s in build(variant(tmp_path, AUDIO, no_ca)).sections]
    assert "california" not in ids
    assert "rights" in ids


def test_copyright_agent_and_outside_links(music: Loaded) -> None:
    """Seeds H24, H25: outside links; the DMCA agent and the six elements."""
    copyright_words = _words(_section(music, "copyright"))
    assert "copyrightagent@example-law.example" in copyright_words
    bullets = [b for b in _section(music, "copyright").blocks if isinstance(b, Bullets)]
    assert len(bullets[0].items) == 6
    assert "does not cover them" in _words(_section(music, "links"))


# -- HTML -----------------------------------------------------------------------------------


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_accessible_by_construction(audio: Loaded) -> None:
    """Seed P1: lang, one h1, skip link to main, table header cells, captions, print CSS."""
    html = render(build(audio), "html")
    outline = _Outline()
    outline.feed(html)
    tags = [t for t, _ in outline.tags]
    assert outline.tags[0] == ("html", {"lang": "en"})
    assert tags.count("h1") == 1
    assert tags.count("main") == 1
    skip = next(a for t, a in outline.tags if t == "a")
    assert skip.get("href") == "#main"
    assert skip.get("class") == "skip"
    assert tags.count("table") == tags.count("caption")
    scopes = {a.get("scope") for t, a in outline.tags if t == "th"}
    assert scopes == {"col", "row"}
    assert "@media print" in html
    assert "<script" not in html
    ids = [a["id"] for _, a in outline.tags if a.get("id")]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for _, a in outline.tags:
        href = a.get("href") or ""
        if href.startswith("#"):
            assert href[1:] in ids, f"link to missing {href}"


def test_html_escapes_declared_text(tmp_path: Path) -> None:
    def hostile(d: dict[str, Any]) -> None:
        d["organization"]["name"] = "<script>alert(1)</script>"
        d["recipients"][0]["description"] = 'x" onmouseover="alert(1)'

    html = render(build(variant(tmp_path, AUDIO, hostile)), "html")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'onmouseover="alert' not in html


def test_markdown_escapes_and_keeps_anchors(audio: Loaded) -> None:
    md = render(build(audio), "md")
    assert '<a id="rights"></a>' in md
    assert re.search(r"^\| Purpose \| What we do \|", md, re.M)
    assert "[terms of use](<https://resonance-audio.example/terms-of-use>)" in md


def test_text_wraps_and_shows_link_targets(audio: Loaded) -> None:
    text = render(build(audio), "txt")
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "terms of use <https://resonance-audio.example/terms-of-use>" in " ".join(text.split())


def test_music_store_promises_in_words(music: Loaded) -> None:
    """Seeds H6, H12, H13, H18, H22, said where a reader looks for them."""
    returns = _words(_section(music, "collect-returns"))
    assert "Government ID details" in returns
    assert "preventing fraud" in returns
    partners = _words(_section(music, "collect-partners"))
    assert "interests and preferences" in partners
    assert "personalizing your shopping" in partners
    offers = _table(_section(music, "purposes"), "Why we use personal information")
    ours = next(r for r in offers.rows if plain(r[0]) == "Our offers")
    assert "e-mail, mail or phone" in plain(ours[1])  # H13
    visits = _words(_section(music, "collect-visits"))
    for said in ("IP address", "pages you visit", "other device information"):  # H18
        assert said in visits
    table = _table(_section(music, "retention"), "How long we keep personal information")
    assert any(plain(r[0]) == "Web logs" for r in table.rows)
    assert "encrypted connections (TLS, formerly called SSL)" in _words(
        _section(music, "security")
    )  # H22


def test_html_can_link_its_style_sheet_for_a_strict_csp(audio: Loaded) -> None:
    """The web app's CSP forbids inline style: it links the same sheet it serves."""
    from covenant.notice.page import STYLESHEET, statement_css, statement_page

    html = statement_page(audio, "html", stylesheet=STYLESHEET)
    assert '<link rel="stylesheet" href="/privacy/statement.css">' in html
    assert "<style" not in html
    css = statement_css()
    assert "@media print" in css
    assert css in render(build(audio), "html")
