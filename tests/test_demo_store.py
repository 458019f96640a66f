"""The demo store: its schema, rows and declaration, on SQLite, PostgreSQL and MariaDB.

Each server test gets fresh databases named ``covenant_test_demo_<random>``,
dropped at the end of the session. Stores are small (a hundred or so customers)
so the whole module runs in seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, inspect, select
from typer.testing import CliRunner

from covenant.declaration import load
from covenant.demo import schema
from covenant.demo.cli import app
from covenant.demo.declaration import URL_ENV, _connection
from covenant.demo.generate import REFERENCE, StoreData
from covenant.demo.store import DemoStore, create
from covenant.engine.policy import CollectionPolicy, resolve, subtract
from covenant.errors import ConnectorError

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MARIADB_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/"
BACKENDS = ("sqlite", "postgresql", "mariadb")
CUSTOMERS = 120
SEED = 7

NewDatabase = Callable[[str, Path], str | None]
"""Given a backend and a folder, a fresh database URL (None: the default SQLite file)."""


@pytest.fixture(scope="session")
def new_database() -> Iterator[NewDatabase]:
    created: list[tuple[str, str]] = []

    def make(backend: str, folder: Path) -> str | None:
        if backend == "sqlite":
            return None
        name = f"covenant_test_demo_{secrets.token_hex(4)}"
        _admin(backend, f"CREATE DATABASE {name}")
        created.append((backend, name))
        if backend == "postgresql":
            return f"postgresql://postgres@127.0.0.1:5432/{name}"
        return f"mysql+pymysql://root@127.0.0.1:3306/{name}"

    yield make
    for backend, name in created:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        _admin(backend, f"DROP DATABASE IF EXISTS {name}{force}")


def _admin(backend: str, statement: str) -> None:
    url = PG_ADMIN if backend == "postgresql" else MARIADB_ADMIN
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Built:
    store: DemoStore
    url: str

    def engine(self) -> Engine:
        return create_engine(self.url)


def _build(backend: str, folder: Path, new_database: NewDatabase, seed: int = SEED) -> Built:
    database_url = new_database(backend, folder)
    store = create(folder, customers=CUSTOMERS, seed=seed, database_url=database_url)
    return Built(store, _reader_url(store, database_url))


def _reader_url(store: DemoStore, database_url: str | None) -> str:
    if database_url is None:
        return f"sqlite:///{store.directory / 'store.db'}"
    return database_url.replace("postgresql://", "postgresql+psycopg://")


@pytest.fixture(scope="session", params=BACKENDS)
def built(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Built:
    backend = str(request.param)
    return _build(backend, tmp_path_factory.mktemp(f"demo-{backend}"), new_database)


@pytest.fixture
def engine(built: Built) -> Iterator[Engine]:
    engine = built.engine()
    yield engine
    engine.dispose()


def _count(engine: Engine, table: str, **where: object) -> int:
    t = schema.metadata.tables[table]
    query = select(func.count()).select_from(t)
    for column, value in where.items():
        query = query.where(t.c[column].is_(None) if value is None else t.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# -- determinism -----------------------------------------------------------------


def _digest(data: StoreData) -> str:
    h = hashlib.sha256()
    for chunk in data.chunks():
        for name in sorted(chunk):
            h.update(repr((name, chunk[name])).encode())
    return h.hexdigest()


def test_generated_rows_depend_only_on_seed_and_size() -> None:
    assert _digest(StoreData(150, 3)) == _digest(StoreData(150, 3))
    assert _digest(StoreData(150, 3)) != _digest(StoreData(150, 4))
    assert StoreData(150, 3).samples() == StoreData(150, 3).samples()
    assert StoreData(150, 3).samples() != StoreData(150, 4).samples()


def _snapshot(built: Built) -> tuple[object, dict[str, int], list[tuple[object, ...]]]:
    engine = built.engine()
    try:
        with engine.connect() as conn:
            orders = schema.orders
            rows = [tuple(r) for r in conn.execute(select(orders).order_by(orders.c.id))]
    finally:
        engine.dispose()
    return built.store.samples, built.store.rows, rows


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_rebuilds_the_same_store_in_place(
    backend: str, tmp_path: Path, new_database: NewDatabase
) -> None:
    url = new_database(backend, tmp_path)
    first = _snapshot(_rebuild(tmp_path, url, SEED))
    other = _snapshot(_rebuild(tmp_path, url, SEED + 1))
    again = _snapshot(_rebuild(tmp_path, url, SEED))
    assert again == first
    assert other[0] != first[0]
    assert other[2] != first[2]


def _rebuild(folder: Path, database_url: str | None, seed: int) -> Built:
    store = create(folder, customers=CUSTOMERS, seed=seed, database_url=database_url)
    return Built(store, _reader_url(store, database_url))


# -- shape -----------------------------------------------------------------------


def test_every_table_is_populated(built: Built, engine: Engine) -> None:
    assert len(schema.TABLES) >= 16
    for table in schema.TABLES:
        count = _count(engine, table.name)
        assert count > 0, table.name
        assert count == built.store.rows[table.name]
    assert built.store.total_rows > 80 * CUSTOMERS


def test_declaration_loads_without_problems(built: Built) -> None:
    loaded = load(built.store.declaration)
    connection = loaded.declaration.systems[0].connection
    assert connection is not None
    if "sqlite" in built.url:
        assert connection.url == "sqlite:///store.db"
    else:
        assert connection.url == built.url
    assert loaded.declaration.organization.name == "Resonance Audio"


def test_the_demo_declaration_keeps_every_rule(built: Built) -> None:
    from covenant.rules import evaluate

    assert evaluate(load(built.store.declaration)) == []


def test_the_demo_declaration_is_the_audio_store_example() -> None:
    # The demo runs the audio-store example's declaration; only the URL differs.
    root = Path(__file__).parent.parent
    example = (root / "examples" / "audio-store" / "covenant.yml").read_text()
    template = (root / "src" / "covenant" / "demo" / "covenant.template.yml").read_text()
    assert template == example.replace("url: {$env: SHOP_DATABASE_URL}", "url: __CONNECTION_URL__")


def test_dataset_describes_every_column_of_the_database(built: Built, engine: Engine) -> None:
    catalog = load(built.store.declaration).catalog
    reflected = inspect(engine)
    assert set(reflected.get_table_names()) == set(schema.metadata.tables)
    assert set(catalog.collections) == {f"shop.{t}" for t in schema.metadata.tables}
    for table in schema.TABLES:
        collection = catalog.collections[f"shop.{table.name}"]
        columns = {c["name"] for c in reflected.get_columns(table.name)}
        assert set(collection.fields) == columns == set(table.columns.keys()), table.name
        for column in table.columns:
            info = collection.fields[column.name]
            assert info.categories, f"{table.name}.{column.name} has no data category"
            assert info.primary_key == column.primary_key
            assert info.identity == schema.identity(column)
            assert {(r.collection, r.field, r.direction) for r in info.references} == {
                (f"shop.{fk.column.table.name}", fk.column.name, "from")
                for fk in column.foreign_keys
            }


def test_lookups_by_identity_or_reference_are_indexed(engine: Engine) -> None:
    reflected = inspect(engine)
    for table in schema.TABLES:
        indexed = {i["column_names"][0] for i in reflected.get_indexes(table.name)}
        for column in table.columns:
            if schema.identity(column) or column.foreign_keys:
                assert column.name in indexed, f"{table.name}.{column.name} is not indexed"


def test_foreign_keys_exist_and_hold(engine: Engine) -> None:
    reflected = inspect(engine)
    for table in schema.TABLES:
        foreign_keys = reflected.get_foreign_keys(table.name)
        declared = {tuple(fk["constrained_columns"]) for fk in foreign_keys}
        assert declared == {(fk.parent.name,) for fk in table.foreign_keys}, table.name
        for fk in table.foreign_keys:
            child, parent = fk.parent, fk.column
            orphans = (
                select(func.count())
                .select_from(table.outerjoin(parent.table, child == parent))
                .where(child.is_not(None), parent.is_(None))
            )
            with engine.connect() as conn:
                assert conn.execute(orphans).scalar_one() == 0, f"{table.name}.{child.name}"


# -- the declaration's erasure fits the schema -------------------------------------


def _policies(built: Built) -> dict[str, CollectionPolicy]:
    loaded = load(built.store.declaration)
    return resolve(loaded.declaration, loaded.catalog, dt.datetime(2026, 11, 22))


def test_field_erasures_fit_their_columns(built: Built) -> None:
    """A null needs a nullable column; a hash or a rewrite must fit the column's width."""
    for key, policy in _policies(built).items():
        table = schema.metadata.tables[key.split(".")[1]]
        for name, action in policy.changes.items():
            column = table.c[name]
            length = getattr(column.type, "length", None)
            if action.strategy == "null":
                assert column.nullable, f"{key}.{name}"
            elif action.strategy == "hash":
                assert length is None or length >= schema.HASHED, f"{key}.{name}"
            elif action.strategy == "rewrite":
                assert length is None or len(str(action.value)) <= length, f"{key}.{name}"


def test_erasure_never_strands_a_row_behind_a_foreign_key(built: Built) -> None:
    """Deleting a parent's released rows must never leave a held or kept child behind."""
    policies = _policies(built)
    for table in schema.TABLES:
        child = policies[f"shop.{table.name}"]
        for fk in table.foreign_keys:
            parent = policies[f"shop.{fk.column.table.name}"]
            if parent.mode != "delete" or fk.ondelete == "SET NULL":
                continue
            assert child.mode == "delete", f"{table.name} -> {fk.column.table.name}"
            if child.hold is not None:
                # The child's anchor is its parent's or later (checked on the rows
                # below), so a parent holding at least as long keeps every held child's parent.
                assert parent.hold is not None, f"{table.name} -> {fk.column.table.name}"
                assert parent.hold.cutoff <= child.hold.cutoff


def test_children_anchor_no_earlier_than_their_parent(engine: Engine) -> None:
    o, web = schema.orders, schema.web_sessions
    pairs = [
        (schema.order_items.c.placed_at, schema.order_items.c.order_id, o.c.placed_at, o.c.id),
        (schema.payments.c.placed_at, schema.payments.c.order_id, o.c.placed_at, o.c.id),
        (schema.returns.c.created_at, schema.returns.c.order_id, o.c.placed_at, o.c.id),
        (
            schema.page_views.c.started_at,
            schema.page_views.c.session_id,
            web.c.started_at,
            web.c.id,
        ),
    ]
    with engine.connect() as conn:
        for child_anchor, child_ref, parent_anchor, parent_id in pairs:
            early = (
                select(func.count())
                .select_from(child_ref.table.join(parent_id.table, child_ref == parent_id))
                .where(child_anchor < parent_anchor)
            )
            assert conn.execute(early).scalar_one() == 0, str(child_anchor)


# -- promises the data keeps -----------------------------------------------------


def test_payments_hold_no_card_number_and_no_security_code(engine: Engine) -> None:
    """H5: card data is tokenized; only the last four digits and expiry are kept."""
    reflected = inspect(engine)
    for table in schema.TABLES:
        for column in reflected.get_columns(table.name):
            assert not re.search(r"cvv|cvc|security_code|card_number|pan\b", column["name"])
    with engine.connect() as conn:
        rows = conn.execute(select(schema.payments)).all()
    assert rows
    for row in rows:
        for value in row:
            assert not re.search(r"\d{13,19}", str(value)), row
        assert re.fullmatch(r"\d{4}", row.card_last4)
        assert re.fullmatch(r"(0[1-9]|1[0-2])/\d\d", row.card_expiry)
        assert row.payment_token.startswith("tok_")


def test_identities_have_their_canonical_form(engine: Engine) -> None:
    with engine.connect() as conn:
        customers = conn.execute(select(schema.customers)).all()
    for c in customers:
        assert c.email == c.email.lower()
        assert re.fullmatch(r"\+1\d{10}", c.phone)
        assert c.password_hash.startswith("$argon2id$")


def test_sample_customers_exist_under_every_identity(built: Built, engine: Engine) -> None:
    for sample in built.store.samples.customers:
        assert (
            _count(
                engine, "customers", id=sample.customer_id, email=sample.email, phone=sample.phone
            )
            == 1
        )
        assert (
            _count(
                engine, "web_sessions", cookie_id=sample.cookie_id, customer_id=sample.customer_id
            )
            > 0
        )
        assert sample.device_id is not None
        assert (
            _count(
                engine, "app_installs", device_id=sample.device_id, customer_id=sample.customer_id
            )
            == 1
        )
        assert _count(engine, "location_pings", device_id=sample.device_id) > 0


def test_anonymous_visitor_has_sessions_but_no_account(built: Built, engine: Engine) -> None:
    cookie = built.store.samples.anonymous_cookie_id
    assert _count(engine, "web_sessions", cookie_id=cookie) > 0
    assert _count(engine, "web_sessions", cookie_id=cookie, customer_id=None) == _count(
        engine, "web_sessions", cookie_id=cookie
    )
    assert _count(engine, "affiliate_clicks", cookie_id=cookie) > 0


def test_contest_entrant_is_not_a_customer(built: Built, engine: Engine) -> None:
    email = built.store.samples.contest_only_email
    assert _count(engine, "contest_entries", email=email, customer_id=None) > 0
    assert _count(engine, "customers", email=email) == 0


def test_some_phone_is_known_only_to_the_call_center(built: Built, engine: Engine) -> None:
    phone = built.store.samples.call_only_phone
    assert _count(engine, "call_records", caller_phone=phone) > 0
    assert _count(engine, "customers", phone=phone) == 0
    assert _count(engine, "addresses", phone=phone) == 0


def test_tax_hold_customer_has_orders_on_both_sides_of_seven_years(
    built: Built, engine: Engine
) -> None:
    cutoff = subtract(dt.datetime.now(dt.UTC).replace(tzinfo=None), "7 years")
    customer = built.store.samples.tax_hold_customer.customer_id
    with engine.connect() as conn:
        placed = (
            conn.execute(
                select(schema.orders.c.placed_at).where(schema.orders.c.customer_id == customer)
            )
            .scalars()
            .all()
        )
    assert min(placed) < cutoff <= max(placed)
    assert max(placed) <= REFERENCE


# -- the declaration's connection, and failures ----------------------------------


def test_a_url_with_a_password_is_referenced_not_written() -> None:
    from sqlalchemy.engine import make_url

    url = make_url("postgresql+psycopg://shop:s3cret@db.example:5432/shop")
    assert _connection(url, None) == ("{$env: " + URL_ENV + "}", URL_ENV)
    plain = make_url("postgresql+psycopg://shop@db.example:5432/shop")
    assert _connection(plain, None) == ('"postgresql+psycopg://shop@db.example:5432/shop"', None)


def test_an_unreachable_database_is_a_connector_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="cannot reach the database"):
        create(
            tmp_path, customers=5, seed=1, database_url="postgresql://postgres@127.0.0.1:1/nowhere"
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_table_that_is_not_the_demos_is_never_dropped(
    backend: str, tmp_path: Path, new_database: NewDatabase
) -> None:
    url = new_database(backend, tmp_path) or f"sqlite:///{tmp_path / 'theirs.db'}"
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY, vip INTEGER)")
            conn.exec_driver_sql("INSERT INTO customers VALUES (1, 1)")
        with pytest.raises(ConnectorError, match="'customers' exists with other columns"):
            create(tmp_path, customers=5, seed=1, database_url=url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT vip FROM customers").scalar_one() == 1
    finally:
        engine.dispose()


def test_cli_reports_an_unreachable_database_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["create", str(tmp_path), "--database-url", "mysql://root@127.0.0.1:1/x"]
    )
    assert result.exit_code == ConnectorError.exit_code
    assert "cannot reach the database" in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, ConnectorError)  # handled, turned into an exit


def test_cli_json_gives_the_sample_identities(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["create", str(tmp_path), "--customers", "40", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    identities = out["identities"]
    assert set(identities) == {
        "customers",
        "tax_hold_customer",
        "anonymous_visitor",
        "contest_entrant",
        "caller",
    }
    assert set(identities["customers"][0]) == {
        "customer_id",
        "email",
        "phone",
        "cookie_id",
        "device_id",
    }
    assert out["customers"] == 40
    assert Path(out["declaration"]).is_file()
