"""The access package and the categories report, without a database.

The declaration is a small store written to ``tmp_path``: a Fides dataset file
for the shop, and an inline dataset for web analytics.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from covenant.declaration.load import Loaded, load
from covenant.engine.package import (
    PackageSummary,
    PackageWriter,
    csv_cell,
    remove_stale_spools,
)
from covenant.engine.report import categories_report, overlap

DECLARATION = """\
organization:
  name: Example Audio
  controller: Example Audio Ltd
  contacts:
    privacy_email: privacy@example.test
    privacy_phone: "+1 555 0100"
  minimum_age: 16
  effective_date: 2024-01-01
systems:
  - {key: shop_db, name: Shop database, connection: {url: "sqlite:///x.db"}}
datasets:
  - {include: datasets/shop.yml, system: shop_db}
  - system: shop_db
    dataset:
      fides_key: web
      name: Web analytics
      collections:
        - name: page_views
          description: Pages you viewed on our site
          fields:
            - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
            - {name: email, data_categories: [user.contact.email], fides_meta: {identity: email}}
            - {name: url, data_categories: [user.behavior.browsing_history]}
            - {name: viewed_at, data_categories: [system.operations]}
identities:
  - {key: email, label: E-mail address, normalize: lowercase}
purposes:
  - key: fulfilment
    name: Fulfil your orders
    description: To take payment and ship what you buy.
    data_use: essential.service.payment_processing
    legal_basis: Contract
    collections: [shop.orders]
  - key: account
    name: Run your account
    description: To let you sign in and see your orders.
    data_use: essential.service
    collections: [shop.customers]
  - key: analytics
    name: Improve our site
    description: To learn which pages help.
    data_use: analytics.reporting
    collections: [web.page_views]
sources:
  - {key: you, name: You, description: What you tell us, context: sign-up and checkout,
     collections: [shop.customers, shop.orders]}
  - {key: browser, name: Your browser, description: Pages you visit, collections: [web.page_views]}
recipients:
  - {key: parcel, name: Parcel Co, type: carrier, categories: [user.contact.address],
     purposes: [fulfilment]}
  - {key: stats, name: Stats Inc, type: service_provider, categories: [user.behavior],
     purposes: [analytics], locations: [US, IN]}
  - {key: partner, name: Mail Partner, type: third_party, categories: [user.contact],
     forbidden_categories: [user.contact.email, user.contact.phone_number], sale: true}
  - {key: bank, name: Card Bank, type: service_provider, categories: [user.financial]}
  - {key: geo, name: Geo Ltd, type: contractor, categories: [user.contact.address.postal_code]}
access:
  exclude_categories: [user.authorization.credentials]
erasure:
  - {target: shop.customers, strategy: delete}
  - {target: shop.orders.ship_to, strategy: "null"}
  - {target: web.page_views, strategy: delete}
"""

SHOP = """\
dataset:
  - fides_key: shop
    name: Shop
    collections:
      - name: customers
        description: Your account
        fields:
          - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
          - {name: email, data_categories: [user.contact.email], fides_meta: {identity: email}}
          - {name: name, data_categories: [user.name]}
          - {name: phone, data_categories: [user.contact.phone_number]}
          - {name: password_hash, data_categories: [user.authorization.credentials]}
      - name: orders
        description: Your orders
        fields:
          - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
          - name: customer_id
            data_categories: [system.operations]
            fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
          - {name: placed_at, data_categories: [system.operations]}
          - {name: total, data_categories: [system.operations]}
          - {name: ship_to, data_categories: [user.contact.address]}
"""

CUSTOMERS = ("id", "email", "name", "phone")  # password_hash withheld by the engine
ORDERS = ("id", "customer_id", "placed_at", "total", "ship_to")
PAGE_VIEWS = ("id", "email", "url", "viewed_at")
GENERATED_AT = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
MEMBERS = {
    "README.txt",
    "data.json",
    "csv/shop.customers.csv",
    "csv/shop.orders.csv",
    "csv/web.page_views.csv",
    "report.html",
    "categories.json",
}


def write_declaration(folder: Path) -> Path:
    (folder / "datasets").mkdir(parents=True, exist_ok=True)
    (folder / "datasets" / "shop.yml").write_text(SHOP, encoding="utf-8")
    path = folder / "covenant.yml"
    path.write_text(DECLARATION, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return load(write_declaration(tmp_path_factory.mktemp("declaration")))


def writer(out: Path, loaded: Loaded, **kwargs: Any) -> PackageWriter:
    return PackageWriter(
        out,
        loaded,
        identities={"email": "zoe@example.test"},
        request_id="req-42",
        generated_at=GENERATED_AT,
        **kwargs,
    )


def write_all(w: PackageWriter, batches: dict[str, list[list[tuple[Any, ...]]]]) -> None:
    """Begin, write and end every collection in plan order, as the engine does."""
    columns = {"shop.customers": CUSTOMERS, "shop.orders": ORDERS, "web.page_views": PAGE_VIEWS}
    for key, cols in columns.items():
        w.begin(key, cols)
        for batch in batches.get(key, []):
            w.write(batch)
        w.end()


CUSTOMER = (7, "zoe@example.test", "Zoë Łukasiewicz 名前 😀", "+1 555 0199")
ORDER_ROWS = [
    (
        1,
        7,
        dt.datetime(2024, 3, 2, 9, 15, 30, tzinfo=dt.UTC),
        Decimal("19.99"),
        "1 Rue d'Été\nParis",
    ),
    (2, 7, dt.datetime(2024, 4, 1, 18, 0), Decimal("5.00"), None),
]


@pytest.fixture
def package(tmp_path: Path, loaded: Loaded) -> PackageSummary:
    w = writer(tmp_path / "package.zip", loaded)
    write_all(
        w,
        {
            "shop.customers": [[CUSTOMER]],
            "shop.orders": [ORDER_ROWS[:1], ORDER_ROWS[1:]],
            "web.page_views": [
                [(1, "zoe@example.test", "https://shop.example/a", dt.date(2024, 1, 2))],
                [(2, "zoe@example.test", b"\x00\xffbinary", dt.time(13, 5))],
            ],
        },
    )
    return w.finish()


def member(summary: PackageSummary, name: str) -> str:
    with zipfile.ZipFile(summary.path) as zf:
        return zf.read(name).decode("utf-8")


def data_json(summary: PackageSummary) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(member(summary, "data.json"))
    return result


def csv_rows(summary: PackageSummary, collection: str) -> list[list[str]]:
    text = member(summary, f"csv/{collection}.csv")
    assert text.startswith("\ufeff"), "a BOM, so spreadsheets read UTF-8"
    return list(csv.reader(io.StringIO(text[1:], newline="")))


# -- the zip -------------------------------------------------------------------


def test_zip_holds_every_file_and_summary_describes_it(package: PackageSummary) -> None:
    with zipfile.ZipFile(package.path) as zf:
        assert set(zf.namelist()) == MEMBERS
        assert zf.testzip() is None
    content = package.path.read_bytes()
    assert package.sha256 == hashlib.sha256(content).hexdigest()
    assert package.size_bytes == len(content)
    assert dict(package.rows) == {"shop.customers": 1, "shop.orders": 2, "web.page_views": 2}
    assert package.total_rows == 5
    assert stat.S_IMODE(package.path.stat().st_mode) == 0o600


def test_finish_leaves_only_the_zip(package: PackageSummary) -> None:
    assert sorted(p.name for p in package.path.parent.iterdir()) == ["package.zip"]


def test_same_answer_gives_same_zip(tmp_path: Path, loaded: Loaded) -> None:
    digests = []
    for name in ("a.zip", "b.zip"):
        w = writer(tmp_path / name, loaded)
        write_all(w, {"shop.customers": [[CUSTOMER]], "shop.orders": [ORDER_ROWS]})
        digests.append(w.finish().sha256)
    assert digests[0] == digests[1]


# -- data.json -----------------------------------------------------------------


def test_data_json_header(package: PackageSummary) -> None:
    data = data_json(package)
    assert data["format"] == "covenant-access/1"
    assert data["request_id"] == "req-42"
    assert data["generated_at"] == "2024-05-01T12:30:00Z"
    assert data["controller"] == {
        "organization": "Example Audio",
        "controller": "Example Audio Ltd",
        "contact": {"email": "privacy@example.test", "phone": "+1 555 0100"},
    }
    assert data["subject"] == {"identities": {"email": "zoe@example.test"}}
    assert list(data["collections"]) == ["shop.customers", "shop.orders", "web.page_views"]


def test_data_json_round_trips_rows(package: PackageSummary) -> None:
    collections = data_json(package)["collections"]
    customers = collections["shop.customers"]
    assert customers["description"] == "Your account"
    assert customers["fields"] == [
        {"name": "id", "categories": ["system.operations"]},
        {"name": "email", "categories": ["user.contact.email"]},
        {"name": "name", "categories": ["user.name"]},
        {"name": "phone", "categories": ["user.contact.phone_number"]},
    ]
    assert customers["rows"] == [dict(zip(CUSTOMERS, CUSTOMER, strict=True))]
    assert collections["shop.orders"]["row_count"] == 2
    assert collections["shop.orders"]["rows"] == [
        {
            "id": 1,
            "customer_id": 7,
            "placed_at": "2024-03-02T09:15:30+00:00",
            "total": "19.99",
            "ship_to": "1 Rue d'Été\nParis",
        },
        {
            "id": 2,
            "customer_id": 7,
            "placed_at": "2024-04-01T18:00:00",
            "total": "5.00",
            "ship_to": None,
        },
    ]
    views = collections["web.page_views"]["rows"]
    assert views[0]["viewed_at"] == "2024-01-02"
    assert base64.b64decode(views[1]["url"]) == b"\x00\xffbinary"
    assert views[1]["viewed_at"] == "13:05:00"
    assert (
        dt.datetime.fromisoformat(collections["shop.orders"]["rows"][0]["placed_at"])
        == (ORDER_ROWS[0][2])
    )


def test_data_json_keeps_unicode_readable(package: PackageSummary) -> None:
    assert "Zoë Łukasiewicz 名前 😀" in member(package, "data.json")


def test_values_json_cannot_hold_still_make_valid_json(tmp_path: Path, loaded: Loaded) -> None:
    w = writer(tmp_path / "p.zip", loaded)
    w.begin("shop.orders", ORDERS)
    w.write([(1, 7, dt.timedelta(hours=1, seconds=1), float("nan"), "bad \udcff byte")])
    w.end()
    row = data_json(w.finish())["collections"]["shop.orders"]["rows"][0]
    assert row["placed_at"] == "PT3601S"
    assert row["total"] == "nan"
    assert row["ship_to"] == "bad \udcff byte"


def test_many_batches_join_into_one_array(tmp_path: Path, loaded: Loaded) -> None:
    w = writer(tmp_path / "p.zip", loaded, html_rows=3)
    w.begin("web.page_views", PAGE_VIEWS)
    for b in range(4):
        w.write([(b * 100 + i, "z@example.test", f"/p/{b}/{i}", None) for i in range(100)])
        w.write([])
    w.end()
    summary = w.finish()
    rows = data_json(summary)["collections"]["web.page_views"]["rows"]
    assert [r["id"] for r in rows] == list(range(400))
    assert len(csv_rows(summary, "web.page_views")) == 401


# -- CSV -------------------------------------------------------------------------


def test_csv_has_header_and_quotes_properly(package: PackageSummary) -> None:
    rows = csv_rows(package, "shop.orders")
    assert rows[0] == list(ORDERS)
    assert rows[1] == ["1", "7", "2024-03-02T09:15:30+00:00", "19.99", "1 Rue d'Été\nParis"]
    assert rows[2] == ["2", "7", "2024-04-01T18:00:00", "5.00", ""]
    assert csv_rows(package, "shop.customers")[1][2] == "Zoë Łukasiewicz 名前 😀"


def test_csv_defuses_formulas(tmp_path: Path, loaded: Loaded) -> None:
    hostile = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    w = writer(tmp_path / "p.zip", loaded)
    w.begin("shop.orders", ORDERS)
    w.write([(i, -5, "a, b", Decimal("-1.5"), value) for i, value in enumerate(hostile)])
    w.end()
    summary = w.finish()
    rows = csv_rows(summary, "shop.orders")[1:]
    assert [r[4] for r in rows] == ["'" + v for v in hostile]
    assert {r[1] for r in rows} == {"-5"}, "numbers are not formulas and stay numbers"
    assert {r[3] for r in rows} == {"-1.5"}
    assert {r[2] for r in rows} == {"a, b"}
    rows_json = data_json(summary)["collections"]["shop.orders"]["rows"]
    assert [r["ship_to"] for r in rows_json] == hostile, "data.json keeps exact values"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1", "'=1"),
        ("safe", "safe"),
        ("", ""),
        (None, ""),
        (True, "true"),
        (-3, "-3"),
        (b"\xfb\xef", "'++8="),
        ({"a": 1}, '{"a": 1}'),
    ],
)
def test_csv_cell(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_readme_documents_the_formula_guard(package: PackageSummary) -> None:
    readme = member(package, "README.txt")
    assert "apostrophe" in readme
    assert "= + - @" in readme


# -- report.html -----------------------------------------------------------------


def test_html_escapes_hostile_strings(tmp_path: Path, loaded: Loaded) -> None:
    w = PackageWriter(
        tmp_path / "p.zip",
        loaded,
        identities={"email": "<img src=x onerror=alert(1)>"},
        request_id="<b>req</b>",
        generated_at=GENERATED_AT,
    )
    w.begin("shop.customers", CUSTOMERS)
    w.write([(1, "a@example.test", "<script>alert('x')</script>", '"><svg onload=alert(1)>')])
    w.end()
    html = member(w.finish(), "report.html")
    assert "<script" not in html
    assert "<img" not in html
    assert "<svg" not in html
    assert "<b>req" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in html


def test_html_accessibility_landmarks(package: PackageSummary) -> None:
    html = member(package, "report.html")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert '<a class="skip" href="#main">' in html
    assert '<main id="main"' in html
    assert '<meta name="viewport"' in html
    assert html.count("<h1>") == 1
    assert "<caption" in html
    assert '<th scope="col">' in html
    assert '<th scope="row">' in html
    assert "@media print" in html
    assert '<nav aria-label="Contents">' in html


def test_html_is_self_contained(package: PackageSummary) -> None:
    html = member(package, "report.html")
    assert "<script" not in html
    assert " src=" not in html
    assert "<link" not in html
    assert "@import" not in html
    assert "default-src 'none'" in html


def test_html_groups_fields_by_category(package: PackageSummary) -> None:
    html = member(package, "report.html")
    for label in ("Contact Data", "Name", "Observed Behavior", "Other details of your records"):
        assert f">{label}</h3>" in html
    assert "User Contact Address" in html
    assert "Zoë Łukasiewicz 名前 😀" in html


def test_html_shows_bounded_rows_and_says_where_the_rest_is(tmp_path: Path, loaded: Loaded) -> None:
    w = writer(tmp_path / "p.zip", loaded, html_rows=5)
    w.begin("web.page_views", PAGE_VIEWS)
    w.write([(i, "z@example.test", f"/page-{i:03d}", None) for i in range(12)])
    w.end()
    summary = w.finish()
    html = member(summary, "report.html")
    assert "/page-004" in html
    assert "/page-005" not in html
    assert "showing the first 5 of 12 records; all are in data.json and csv" in html
    assert len(data_json(summary)["collections"]["web.page_views"]["rows"]) == 12


def test_html_reports_categories_and_sale(package: PackageSummary) -> None:
    html = member(package, "report.html")
    assert "We sell personal information about you to: Mail Partner" in html
    assert "We do not share your personal information for cross-context" in html
    assert "Global Privacy Control" in html
    for name in ("Parcel Co", "Stats Inc", "Geo Ltd", "Your browser", "Fulfil your orders"):
        assert name in html
    assert "Card Bank" not in html
    assert "Account password" in html, "withheld categories are still named"


class TagBalance(HTMLParser):
    """Records unclosed or stray tags and duplicate ids: template slips a browser would hide."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value is not None:
                if value in self.ids:
                    self.errors.append(f"duplicate id {value}")
                self.ids.add(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


@pytest.mark.parametrize("rows", [True, False])
def test_html_is_well_formed(tmp_path: Path, loaded: Loaded, rows: bool) -> None:
    w = writer(tmp_path / "p.zip", loaded)
    write_all(w, {"shop.customers": [[CUSTOMER]], "shop.orders": [ORDER_ROWS]} if rows else {})
    html = member(w.finish(), "report.html")
    parser = TagBalance()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    labelled = set(re.findall(r'aria-labelledby="([^"]+)"', html))
    assert labelled
    assert labelled <= parser.ids, "every region and section names an existing heading"


# -- the empty subject ----------------------------------------------------------


def test_subject_with_no_data_gets_a_complete_package(tmp_path: Path, loaded: Loaded) -> None:
    w = writer(tmp_path / "empty.zip", loaded)
    write_all(w, {})
    summary = w.finish()
    with zipfile.ZipFile(summary.path) as zf:
        assert set(zf.namelist()) == MEMBERS
    data = data_json(summary)
    for entry in data["collections"].values():
        assert entry["rows"] == []
        assert entry["row_count"] == 0
    assert csv_rows(summary, "shop.orders") == [list(ORDERS)]
    categories = json.loads(member(summary, "categories.json"))
    assert categories["collections"] == []
    assert categories["categories"] == []
    assert categories["recipients"] == []
    html = member(summary, "report.html")
    assert "We found no personal information about you" in html
    assert "We do not sell your personal information." in html
    assert "We found no personal information about you" in member(summary, "README.txt")
    assert summary.total_rows == 0


def test_package_without_any_collection_is_valid(tmp_path: Path, loaded: Loaded) -> None:
    summary = writer(tmp_path / "p.zip", loaded).finish()
    assert data_json(summary)["collections"] == {}
    assert "report.html" in zipfile.ZipFile(summary.path).namelist()


# -- abort and misuse ------------------------------------------------------------


def spool_dirs(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".covenant-package-")]


def test_spool_is_private_while_writing(tmp_path: Path, loaded: Loaded) -> None:
    w = writer(tmp_path / "p.zip", loaded)
    w.begin("shop.customers", CUSTOMERS)
    w.write([CUSTOMER])
    [spool] = spool_dirs(tmp_path)
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    w.abort()


def test_abort_leaves_nothing(tmp_path: Path, loaded: Loaded) -> None:
    w = writer(tmp_path / "p.zip", loaded)
    w.begin("shop.customers", CUSTOMERS)
    w.write([CUSTOMER])
    w.end()
    w.begin("shop.orders", ORDERS)
    w.write(ORDER_ROWS)
    w.abort()
    w.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="finished or aborted"):
        w.finish()


def test_leaving_a_with_block_without_finish_aborts(tmp_path: Path, loaded: Loaded) -> None:
    def run() -> None:
        with writer(tmp_path / "p.zip", loaded) as w:
            w.begin("shop.customers", CUSTOMERS)
            w.write([CUSTOMER])
            raise ConnectionError("the store database went away")

    with pytest.raises(ConnectionError):
        run()
    assert list(tmp_path.iterdir()) == []


def test_failed_finish_leaves_no_partial_zip(
    tmp_path: Path, loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = writer(tmp_path / "p.zip", loaded)
    write_all(w, {"shop.customers": [[CUSTOMER]]})

    def full_disk(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("covenant.engine.package._copy", full_disk)
    with pytest.raises(OSError, match="No space"):
        w.finish()
    assert list(tmp_path.iterdir()) == []


def test_spools_a_crash_left_behind_are_swept(tmp_path: Path, loaded: Loaded) -> None:
    crashed = writer(tmp_path / "old.zip", loaded)  # never finished nor aborted: a kill -9
    crashed.begin("shop.customers", CUSTOMERS)
    crashed.write([CUSTOMER])
    [stale] = spool_dirs(tmp_path)
    an_hour_ago = dt.datetime.now(dt.UTC).timestamp() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    running = writer(tmp_path / "new.zip", loaded)
    assert remove_stale_spools(tmp_path, older_than=dt.timedelta(minutes=30)) == 1
    assert not stale.exists()
    assert len(spool_dirs(tmp_path)) == 1, "the running writer keeps its spool"
    running.abort()
    crashed.abort()
    assert list(tmp_path.iterdir()) == []


def test_misuse_is_refused(tmp_path: Path, loaded: Loaded) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PackageWriter(
            tmp_path / "p.zip",
            loaded,
            identities={},
            request_id="r",
            generated_at=dt.datetime(2024, 1, 1),
        )
    w = writer(tmp_path / "p.zip", loaded)
    with pytest.raises(RuntimeError, match="outside begin"):
        w.write([CUSTOMER])
    with pytest.raises(ValueError, match="not in the declaration"):
        w.begin("shop.nope", ["id"])
    with pytest.raises(ValueError, match="duplicate column"):
        w.begin("shop.customers", ["id", "id"])
    w.begin("shop.customers", CUSTOMERS)
    with pytest.raises(ValueError, match="3 values for 4 columns"):
        w.write([CUSTOMER[:3]])
    with pytest.raises(RuntimeError, match="before end"):
        w.finish()
    w.end()
    with pytest.raises(ValueError, match="already written"):
        w.begin("shop.customers", CUSTOMERS)
    w.abort()


# -- bounded memory ------------------------------------------------------------

MEMORY_SCRIPT = """
import datetime as dt, json, resource, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import test_package as t
from covenant.declaration.load import load

folder = Path(sys.argv[1])
loaded = load(t.write_declaration(folder))
# Warm up: imports, templates and the declaration are not what we measure.
warm = t.writer(folder / "warm.zip", loaded)
t.write_all(warm, {{"web.page_views": [[(1, "a@b.test", "/x", None)]]}})
warm.finish()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
w = t.writer(folder / "big.zip", loaded)
w.begin("shop.customers", t.CUSTOMERS)
w.end()
w.begin("web.page_views", t.PAGE_VIEWS)
moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
for b in range(100):
    w.write([(b * 10_000 + i, "zoe@example.test", f"/product/{{i}}", moment)
             for i in range(10_000)])
w.end()
summary = w.finish()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"before_kib": before, "after_kib": after, "rows": summary.total_rows}}))
"""


@pytest.mark.slow
def test_a_million_rows_stream_in_bounded_memory(tmp_path: Path) -> None:
    """A fresh process, so an earlier test's peak cannot hide this one's."""
    script = tmp_path / "measure.py"
    script.write_text(MEMORY_SCRIPT.format(tests=str(Path(__file__).parent)), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, str(script), str(work)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == 1_000_000
    grown_mib = (result["after_kib"] - result["before_kib"]) / 1024  # Linux reports KiB
    assert grown_mib < 100, f"peak RSS grew by {grown_mib:.0f} MiB"
    with zipfile.ZipFile(work / "big.zip") as zf, zf.open("csv/web.page_views.csv") as f:
        assert sum(1 for _ in f) == 1_000_001
    with zipfile.ZipFile(work / "big.zip") as zf, zf.open("data.json") as f:
        rows = sum(1 for line in f if line.startswith(b'{"id": '))
    assert rows == 1_000_000


# -- the categories report -------------------------------------------------------


def test_report_lists_only_what_the_person_has(loaded: Loaded) -> None:
    report = categories_report(loaded, {"shop.customers": 1, "shop.orders": 0})
    assert [(c.key, c.rows) for c in report.collections] == [("shop.customers", 1)]
    assert [c.key for c in report.categories] == [
        "user.authorization.credentials",
        "user.contact.email",
        "user.contact.phone_number",
        "user.name",
    ]
    email = report.categories[1]
    assert (email.label, email.group, email.group_label) == (
        "User Contact Email",
        "user.contact",
        "Contact Data",
    )
    assert email.collections == ("shop.customers",)
    assert [s.key for s in report.sources] == ["you"]
    assert report.sources[0].collections == ("shop.customers",)
    assert [p.key for p in report.purposes] == ["account"]
    # Mail Partner receives user.contact, but never e-mail or phone: nothing of this person's.
    assert report.recipients == ()
    assert not report.sold_to


def test_report_recipient_overlap_both_ways(loaded: Loaded) -> None:
    found = {"shop.customers": 1, "shop.orders": 3, "web.page_views": 10}
    report = categories_report(loaded, found)
    received = {r.key: r.categories for r in report.recipients}
    assert received == {
        "parcel": ("user.contact.address",),  # equal
        "stats": ("user.behavior.browsing_history",),  # recipient's category is the ancestor
        "partner": ("user.contact.address",),  # ancestor, minus forbidden e-mail and phone
        "geo": ("user.contact.address.postal_code",),  # person's category is the ancestor
    }
    stats = next(r for r in report.recipients if r.key == "stats")
    assert (stats.type, stats.type_label, stats.purposes, stats.locations) == (
        "service_provider",
        "Service provider",
        ("Improve our site",),
        ("US", "IN"),
    )
    assert stats.category_labels == ("Browsing History",)
    assert [r.key for r in report.sold_to] == ["partner"]
    assert report.shared_with == ()
    assert [s.key for s in report.sources] == ["you", "browser"]
    assert [p.key for p in report.purposes] == ["fulfilment", "account", "analytics"]
    fulfilment = report.purposes[0]
    assert (fulfilment.legal_basis, fulfilment.data_use_label) == (
        "Contract",
        "Essential for Payment Processing",
    )


def test_report_to_dict_is_json(loaded: Loaded) -> None:
    report = categories_report(loaded, {"shop.orders": 2})
    body = json.loads(json.dumps(report.to_dict()))
    assert body["collections"] == [{"key": "shop.orders", "rows": 2}]
    assert body["sold"] is True
    assert body["shared"] is False
    assert [r["key"] for r in body["recipients"]] == ["parcel", "partner", "geo"]


def test_report_for_nobody_is_empty(loaded: Loaded) -> None:
    report = categories_report(loaded, {"shop.customers": 0})
    assert not report.has_data
    assert (report.categories, report.sources, report.purposes, report.recipients) == (
        (),
        (),
        (),
        (),
    )


def test_report_refuses_unknown_collections(loaded: Loaded) -> None:
    with pytest.raises(ValueError, match=r"shop\.nope"):
        categories_report(loaded, {"shop.nope": 1})


def test_categories_json_in_package(package: PackageSummary) -> None:
    body = json.loads(member(package, "categories.json"))
    assert body["format"] == "covenant-categories/1"
    assert body["request_id"] == "req-42"
    assert {r["key"] for r in body["recipients"]} == {"parcel", "stats", "partner", "geo"}


@pytest.mark.parametrize(
    ("person", "receives", "forbidden", "expected"),
    [
        (["user.contact.email"], ["user.contact.email"], [], ("user.contact.email",)),
        (["user.contact.email"], ["user.contact"], [], ("user.contact.email",)),
        (["user.contact"], ["user.contact.email"], [], ("user.contact.email",)),
        (["user.contact.email"], ["user.contact"], ["user.contact.email"], ()),
        (["user.contact_extra"], ["user.contact"], [], ()),  # a prefix, not an ancestor
        (["user.name"], ["user.contact"], [], ()),
    ],
)
def test_overlap(
    loaded: Loaded,
    person: list[str],
    receives: list[str],
    forbidden: list[str],
    expected: tuple[str, ...],
) -> None:
    assert overlap(person, receives, forbidden, loaded.taxonomy) == expected


def test_readme_explains_files(package: PackageSummary) -> None:
    readme = member(package, "README.txt")
    for name in ("report.html", "data.json", "csv/shop.orders.csv", "categories.json"):
        assert name in readme
    assert "Account password" in readme
