"""The record of processing (GDPR Art. 30(1)) as CSV and XLSX, security.txt (RFC 9116), data flow."""

from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from covenant.declaration import Loaded, load
from covenant.notice.dataflow import svg
from covenant.notice.errors import NoticeError
from covenant.notice.ropa import COLUMNS, to_csv
from covenant.notice.ropa_xlsx import to_xlsx
from covenant.notice.securitytxt import security_txt
from tests.test_examples import AUDIO, MUSIC, variant

NOW = dt.datetime(2026, 2, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def audio() -> Loaded:
    return load(AUDIO)


def _csv_rows(loaded: Loaded) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(to_csv(loaded))))


# -- Record of processing -------------------------------------------------------------------


def test_ropa_csv_has_every_art_30_1_element(audio: Loaded) -> None:
    text = to_csv(audio)
    header = next(csv.reader(io.StringIO(text)))
    assert header == [title for _, title in COLUMNS]
    for letter in "abcdefg":
        assert any(f"({letter})" in h for h in header), f"Art. 30(1)({letter}) has no column"
    assert "\r\n" in text  # RFC 4180 line ends


def test_ropa_rows_one_per_purpose(audio: Loaded) -> None:
    rows = _csv_rows(audio)
    assert [r["Processing activity (b)"] for r in rows] == [
        p.name for p in audio.declaration.purposes
    ]
    assert {r["Controller (a)"] for r in rows} == {"Resonance Audio, Inc."}
    assert "privacy@resonance-audio.example" in rows[0]["Controller contact details (a)"]


def test_ropa_subjects_categories_recipients(audio: Loaded) -> None:
    support = next(r for r in _csv_rows(audio) if r["Processing activity (b)"] == "Helping you")
    assert support["Categories of data subjects (c)"] == (
        "Customers, Contest entrants and callers without an account"
    )
    assert "phone number" in support["Categories of personal data (c)"]
    recipients = support["Categories of recipients (d)"]
    assert "Call-center contractor (contractor)" in recipients
    assert "Call-center contractor (India)" in support["Recipients in third countries (d)"]


def test_ropa_transfers_and_safeguards(audio: Loaded) -> None:
    support = next(r for r in _csv_rows(audio) if r["Processing activity (b)"] == "Helping you")
    assert (
        "India: Call-center contractor, Resonance group companies"
        in support["Transfers to third countries (e)"]
    )
    assert (
        "Call-center contractor: EU Standard Contractual Clauses (Commission Decision 2021/914)"
        in support["Transfer safeguards (e)"]
    )
    assert "Web store database: none declared" in support["Transfer safeguards (e)"]


def test_ropa_time_limits_and_security(audio: Loaded) -> None:
    rows = {r["Processing activity (b)"]: r for r in _csv_rows(audio)}
    tax = rows["Keeping tax records"]["Time limits for erasure (f)"]
    assert (
        "Orders, Order items, Payments: kept 7 years from when the order was placed, then delete"
        in tax
    )
    app = rows["The companion app"]["Time limits for erasure (f)"]
    assert "Voice recordings: until your command has been carried out (at most 90 days)" in app
    security = rows["Your account"]["Technical and organisational security measures (g)"]
    assert "argon2id" in security
    assert security.count("\n") == len(audio.declaration.security.measures) - 1


def test_ropa_without_declared_subjects_or_measures_says_so(tmp_path: Path) -> None:
    def bare(d: dict[str, Any]) -> None:
        d.pop("subjects")
        d.pop("security")

    row = _csv_rows(variant(tmp_path, AUDIO, bare))[0]
    assert row["Categories of data subjects (c)"] == "Not declared"
    assert row["Technical and organisational security measures (g)"] == "Not described"


def test_ropa_xlsx_sheets_and_content(audio: Loaded, tmp_path: Path) -> None:
    path = tmp_path / "ropa.xlsx"
    to_xlsx(audio, path)
    book = load_workbook(path)
    assert book.sheetnames == ["Controller", "Processing activities", "Security measures"]
    controller = {r[0]: r[1] for r in book["Controller"].iter_rows(min_row=2, values_only=True)}
    assert controller["Controller"] == "Resonance Audio, Inc."
    assert controller["Privacy e-mail"] == "privacy@resonance-audio.example"
    sheet = book["Processing activities"]
    header = [c.value for c in sheet[1]]
    assert header == [title for _, title in COLUMNS]
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [v[2] for v in values] == [p.name for p in audio.declaration.purposes]
    csv_rows = _csv_rows(audio)
    assert [list(v) for v in values] == [list(r.values()) for r in csv_rows]
    measures = [r[0] for r in book["Security measures"].iter_rows(min_row=2, values_only=True)]
    assert measures == audio.declaration.security.measures
    assert book.properties.created == dt.datetime(2026, 1, 15)


# -- security.txt ----------------------------------------------------------------------------


def _fields(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(": ")
            out.append((name, value))
    return out


def test_security_txt_fields(audio: Loaded) -> None:
    """RFC 9116 §2.5: Contact, Expires, Encryption, Preferred-Languages, Canonical, Policy."""
    fields = _fields(security_txt(audio, NOW))
    names = [n for n, _ in fields]
    values = dict(fields)
    assert [v for n, v in fields if n == "Contact"] == [
        "mailto:security@resonance-audio.example",
        "https://resonance-audio.example/security/report",
    ]
    assert names.count("Expires") == 1
    assert names.count("Preferred-Languages") == 1
    assert values["Encryption"] == "https://resonance-audio.example/.well-known/pgp-key.asc"
    assert values["Preferred-Languages"] == "en"
    assert values["Canonical"] == "https://resonance-audio.example/.well-known/security.txt"
    assert values["Policy"] == "https://resonance-audio.example/security-policy"
    assert values["Acknowledgments"] == "https://resonance-audio.example/security/thanks"
    assert "Hiring" not in values


def test_security_txt_expires_within_a_year(audio: Loaded) -> None:
    """RFC 9116 §2.5.5: an RFC 3339 date-time, recommended less than a year ahead."""
    value = dict(_fields(security_txt(audio, NOW)))["Expires"]
    expires = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert expires == NOW + dt.timedelta(days=180)
    assert NOW < expires < NOW + dt.timedelta(days=365)


def test_security_txt_needs_a_contact() -> None:
    """The music store declares no security contact: there is no valid security.txt to write."""
    with pytest.raises(NoticeError, match=r"RFC 9116 §2.5.3"):
        security_txt(load(MUSIC), NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["organization"]["contacts"].update(security_pgp_key="ABCD 1234"), "§2.5.4"),
        (lambda d: d["security"].update(policy_url="http://insecure.example/p"), "https://"),
    ],
    ids=["key-not-a-uri", "plain-http"],
)
def test_security_txt_refuses_invalid_uris(tmp_path: Path, change: Any, message: str) -> None:
    with pytest.raises(NoticeError, match=message):
        security_txt(variant(tmp_path, AUDIO, change), NOW)


def test_security_txt_canonical_override_and_fingerprint_key(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["organization"]["contacts"]["security_pgp_key"] = (
            "openpgp4fpr:5f2de5521c63a801ab59ccb603d49de44b29100f"
        )
        d["security"]["canonical_url"] = "https://www.example.org/.well-known/security.txt"
        d["security"]["languages"] = ["en", "de"]

    values = dict(_fields(security_txt(variant(tmp_path, AUDIO, change), NOW)))
    assert values["Encryption"].startswith("openpgp4fpr:")
    assert values["Canonical"] == "https://www.example.org/.well-known/security.txt"
    assert values["Preferred-Languages"] == "en, de"


# -- Data flow ---------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def _parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - our own generated SVG, not untrusted input


def test_dataflow_svg_is_valid_and_described(audio: Loaded) -> None:
    root = _parse(svg(audio))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title") is not None
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert "Call-center contractor receives from Web store database" in (desc.text or "")


def test_dataflow_edges_and_categories(audio: Loaded) -> None:
    text = svg(audio)
    root = _parse(text)
    edges = [p for p in root.iter(f"{SVG}path") if p.get("d", "").startswith("M")]
    recipients = len(audio.declaration.recipients)
    # Every recipient gets data from the one system; some also from outside it.
    assert len(edges) >= recipients
    labels = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "Speech recognition service" in labels
    assert "from Web store database: voice recordings" in labels
    assert "shared for cross-context advertising" in labels


def test_dataflow_escapes_names(tmp_path: Path) -> None:
    def hostile(d: dict[str, Any]) -> None:
        d["recipients"][0]["name"] = "<b>&Co</b>"

    root = _parse(svg(variant(tmp_path, AUDIO, hostile)))
    assert "<b>&Co</b>" in [t.text for t in root.iter(f"{SVG}text")]


def test_web_page_functions(audio: Loaded, tmp_path: Path) -> None:
    """What the web app serves at /privacy/statement and /.well-known/security.txt."""
    from covenant.notice.page import MEDIA_TYPES, security_txt_page, statement_page
    from covenant.notice.store import VersionStore

    assert security_txt_page(audio, NOW) == security_txt(audio, NOW)
    assert MEDIA_TYPES["txt"] == "text/plain; charset=utf-8"
    VersionStore(tmp_path).publish(audio, NOW)
    page = statement_page(audio, "html", versions=tmp_path)
    assert "<caption>Change log</caption>" in page
    assert "Change log" not in statement_page(audio, "html", versions=tmp_path / "none")
