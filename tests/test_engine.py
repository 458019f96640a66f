"""The engine end to end on SQLite, PostgreSQL and MariaDB, with the mini shop."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from covenant.connectors.base import Match, Selector, Staged
from covenant.declaration import load
from covenant.engine.access import access
from covenant.engine.correct import correct
from covenant.engine.erase import ErasureNotProven, erase, keyed_hash
from covenant.engine.identity import normalize
from covenant.engine.plan import plan
from covenant.engine.session import Session
from covenant.errors import ConnectorError, CorrectionError, IdentityError
from tests import mini_store as m

HASH_KEY = "test-hash-key-0123456789"


@pytest.fixture
def store(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[m.MiniStore]:
    monkeypatch.setenv("MINI_DB_URL", db_url)
    monkeypatch.setenv("MINI_HASH_KEY", HASH_KEY)
    built = m.build(db_url, tmp_path)
    yield built
    built.engine.dispose()


class Unchanged(Staged):
    """A connector's staged changes that claim success but change nothing."""

    def __init__(self, n: int) -> None:
        self.affected = [0] * n

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


def session_for(store: m.MiniStore) -> Session:
    return Session(load(store.config), now=m.NOW)


def ids(session: Session, **given: str) -> dict[str, tuple[str, ...]]:
    loaded = session.loaded
    return normalize(list(given.items()), loaded.catalog, loaded.declaration.identities)


def test_access_finds_rows_across_hops_and_withholds_secrets(
    store: m.MiniStore, tmp_path: Path
) -> None:
    out = tmp_path / "ana.zip"
    with session_for(store) as s:
        result = access(s, ids(s, email="ANA.LÓPEZ@example.com", phone="+1 555 000 1111"), out)
    counts = {c.collection: c.rows for c in result.collections}
    assert counts == {
        "mini.calls": 1,
        "mini.customers": 1,
        "mini.orders": 2,
        "mini.sessions": 2,
        "mini.order_items": 3,
    }
    customers = next(c for c in result.collections if c.collection == "mini.customers")
    assert customers.excluded == ["password_hash"]
    with zipfile.ZipFile(out) as z:
        data = json.loads(z.read("data.json"))
        assert "$argon2id" not in z.read("data.json").decode()
    rows = data["collections"]["mini.customers"]["rows"]
    assert rows[0]["email"] == m.ANA
    assert "password_hash" not in rows[0]


def test_access_for_a_subject_with_no_data_writes_a_valid_empty_package(
    store: m.MiniStore, tmp_path: Path
) -> None:
    out = tmp_path / "nobody.zip"
    with session_for(store) as s:
        result = access(s, ids(s, email="nobody@example.com"), out)
    assert result.total_rows == 0
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        data = json.loads(z.read("data.json"))
    assert all(c["rows"] == [] for c in data["collections"].values())


def test_erase_applies_strategies_honours_holds_and_proves_it(store: m.MiniStore) -> None:
    with session_for(store) as s:
        result = erase(s, ids(s, email=m.ANA, phone="+15550001111"))
    assert result.verified
    by = {c.collection: c for c in result.collections}
    assert (by["mini.orders"].deleted, by["mini.orders"].held) == (1, 1)
    assert (by["mini.order_items"].deleted, by["mini.order_items"].held) == (2, 1)
    assert "Tax law" in (by["mini.orders"].held_reason or "")
    assert by["mini.sessions"].deleted == 2
    assert by["mini.customers"].masked == 1
    assert [k.field for k in by["mini.customers"].kept_fields] == ["id"]
    ana = store.rows(m.customers, m.customers.c.id == 1)[0]
    assert ana.email == keyed_hash(HASH_KEY.encode(), m.ANA)
    assert ana.name is None
    assert ana.password_hash == "!erased"
    assert [r.id for r in store.rows(m.orders)] == [11, 12]
    assert [r.id for r in store.rows(m.order_items)] == [102, 103]
    assert [r.id for r in store.rows(m.sessions)] == [1002, 1003]
    call = store.rows(m.calls, m.calls.c.id == 1)[0]
    assert call.phone is None
    assert call.notes == "[erased]"
    bob = store.rows(m.customers, m.customers.c.id == 2)[0]
    assert bob.email == m.BOB
    assert bob.name == "Bob O'Brien"
    assert store.rows(m.calls, m.calls.c.id == 2)[0].notes == "Someone else"


def test_erase_twice_is_safe(store: m.MiniStore) -> None:
    with session_for(store) as s:
        erase(s, ids(s, email=m.ANA))
    with session_for(store) as s:
        again = erase(s, ids(s, email=m.ANA))
    assert again.verified
    assert all(c.deleted == 0 and c.masked == 0 for c in again.collections)
    assert store.count(m.orders) == 2


def test_erase_never_reports_success_when_data_remains(
    store: m.MiniStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connector that acknowledges changes it did not make: the proof must catch it.
    from covenant.connectors.sql import SQLConnector

    monkeypatch.setattr(SQLConnector, "stage", lambda self, mutations: Unchanged(len(mutations)))
    with session_for(store) as s, pytest.raises(ErasureNotProven) as caught:
        erase(s, ids(s, email=m.ANA))
    left = {c.collection: c.remaining for c in caught.value.result.collections}
    assert left["mini.sessions"] == 2
    assert left["mini.customers"] == 1
    assert left["mini.orders"] == 1
    assert not caught.value.result.verified


def test_erase_without_hash_key_changes_nothing(
    store: m.MiniStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MINI_HASH_KEY")
    with session_for(store) as s, pytest.raises(Exception, match="MINI_HASH_KEY"):
        erase(s, ids(s, email=m.ANA))
    assert store.count(m.sessions) == 4
    assert store.count(m.orders) == 3


@pytest.mark.parametrize(
    "hostile",
    ["' OR 1=1 --", 'a"; DROP TABLE customers; --', "ünïcødé@exämple.com", "x" * 300, "%", "_"],
)
def test_hostile_identities_match_nothing_and_change_nothing(
    store: m.MiniStore, hostile: str
) -> None:
    with session_for(store) as s:
        result = erase(s, ids(s, email=hostile))
    assert result.verified
    assert all(c.deleted == 0 and c.masked == 0 for c in result.collections)
    assert store.count(m.customers) == 2
    assert store.count(m.sessions) == 4


def test_correct_sets_values_and_shows_before_and_after(store: m.MiniStore) -> None:
    with session_for(store) as s:
        result = correct(s, ids(s, email=m.ANA), {"mini.customers": {"name": "Ana María López"}})
    (change,) = result.collection_changes["mini.customers"]
    assert change.before == {"name": "Ana López"}
    assert change.after == {"name": "Ana María López"}
    assert store.rows(m.customers, m.customers.c.id == 1)[0].name == "Ana María López"
    assert store.rows(m.customers, m.customers.c.id == 2)[0].name == "Bob O'Brien"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mini.orders": {"total_cents": "lots"}}, "not a valid int"),
        ({"mini.orders": {"customer_id": "2"}}, "cannot be corrected"),
        ({"mini.customers": {"id": "7"}}, "cannot be corrected"),
        ({"mini.customers": {"nickname": "x"}}, "no declared field"),
        ({"mini.nowhere": {"x": "y"}}, "unknown collection"),
        ({"mini.customers": {"name": "x" * 201}}, "longer than"),
    ],
)
def test_correct_refuses_bad_values_and_changes_nothing(
    store: m.MiniStore, changes: dict[str, dict[str, str]], message: str
) -> None:
    with session_for(store) as s, pytest.raises(CorrectionError, match=message):
        correct(s, ids(s, email=m.ANA), changes)
    assert store.rows(m.customers, m.customers.c.id == 1)[0].name == "Ana López"
    assert {r.total_cents for r in store.rows(m.orders)} == {1999, 4999, 999}


def test_unknown_identity_type_is_a_clear_error(store: m.MiniStore) -> None:
    with (
        session_for(store) as s,
        pytest.raises(IdentityError, match="unknown identity type 'passport'"),
    ):
        ids(s, passport="X123")


def test_unreachable_database_fails_before_changing_anything(
    store: m.MiniStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINI_DB_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    with session_for(store) as s, pytest.raises(ConnectorError, match=r"cannot connect|failed"):
        erase(s, ids(s, email=m.ANA))
    assert store.count(m.customers) == 2
    assert store.count(m.sessions) == 4


def test_value_lists_larger_than_a_statement_allows_are_split(
    store: m.MiniStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # With one value per statement every selector is split; results must not change.
    from covenant.connectors import sql

    monkeypatch.setattr(sql, "CHUNK", 1)
    with session_for(store) as s:
        got = access(s, ids(s, email=m.ANA, phone="+15550001111"), tmp_path / "a.zip")
        assert {c.collection: c.rows for c in got.collections}["mini.order_items"] == 3
        result = erase(s, ids(s, email=m.ANA, phone="+15550001111"))
    assert result.verified
    by = {c.collection: c for c in result.collections}
    assert (by["mini.order_items"].deleted, by["mini.order_items"].held) == (2, 1)
    assert [r.id for r in store.rows(m.sessions)] == [1002, 1003]


def test_database_lost_mid_run_leaves_everything_unchanged(
    store: m.MiniStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Move the call log into a second system whose database is down: the walk
    # reads the shop first, then fails on the call center before any change.
    _move_calls_to_second_system(store)
    monkeypatch.setenv("CALLS_URL", "postgresql+psycopg://nobody@127.0.0.1:1/calls")
    with session_for(store) as s:
        plan_order = plan(s.loaded.catalog, ["email", "phone"]).collections
        assert plan_order.index("mini.customers") < plan_order.index("zcalls.calls")
        with pytest.raises(ConnectorError, match="calls_db: cannot connect"):
            erase(s, ids(s, email=m.ANA, phone="+15550001111"))
    assert store.count(m.sessions) == 4
    assert store.rows(m.customers, m.customers.c.id == 1)[0].email == m.ANA


def test_a_change_the_database_refuses_is_rolled_back_whole(store: m.MiniStore) -> None:
    # Deleting customers while their held orders still reference them breaks a
    # foreign key part-way through the transaction: nothing may stay changed.
    config = yaml.safe_load(store.config.read_text())
    config["erasure"] = [
        r for r in config["erasure"] if not r["target"].startswith("mini.customers")
    ]
    config["erasure"].append({"target": "mini.customers", "strategy": "delete"})
    store.config.write_text(yaml.safe_dump(config))
    with session_for(store) as s, pytest.raises(ConnectorError, match="refused the change"):
        erase(s, ids(s, email=m.ANA))
    assert store.count(m.sessions) == 4
    assert store.count(m.orders) == 3
    assert store.count(m.order_items) == 4
    assert store.count(m.customers) == 2


@pytest.mark.parametrize("lossy", [False, True])
def test_the_proof_holds_when_split_across_statements(
    store: m.MiniStore, monkeypatch: pytest.MonkeyPatch, lossy: bool
) -> None:
    # Tiny budgets force every proof count into its own statement and the hash
    # check into "no old value left" chunks; a connector that changes nothing
    # must still be caught.
    from covenant.connectors import sql
    from covenant.engine import erase as erase_module

    monkeypatch.setattr(sql, "PARAMS", 1)
    monkeypatch.setattr(erase_module, "HASHES_PER_CHECK", 0)
    if lossy:
        monkeypatch.setattr(
            sql.SQLConnector, "stage", lambda self, mutations: Unchanged(len(mutations))
        )
        with session_for(store) as s, pytest.raises(ErasureNotProven) as caught:
            erase(s, ids(s, email=m.ANA))
        left = {c.collection: c.remaining for c in caught.value.result.collections}
        assert left["mini.customers"] >= 1
        assert left["mini.sessions"] == 2
        return
    with session_for(store) as s:
        result = erase(s, ids(s, email=m.ANA))
    assert result.verified
    assert store.rows(m.customers, m.customers.c.id == 1)[0].email == keyed_hash(
        HASH_KEY.encode(), m.ANA
    )


def test_a_second_database_refusing_its_part_leaves_the_first_unchanged(
    store: m.MiniStore, monkeypatch: pytest.MonkeyPatch, fresh_db: object, db_url: str
) -> None:
    # The call log lives in a second database whose phone column cannot be
    # nulled: its refusal must roll back the shop's already-staged changes too.
    import sqlalchemy as sa

    backend = sa.make_url(db_url).get_backend_name()
    other = fresh_db({"mysql": "mariadb"}.get(backend, backend))  # type: ignore[operator]
    engine = sa.create_engine(other)
    md = sa.MetaData()
    calls = sa.Table(
        "calls",
        md,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("notes", sa.Text),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(calls.insert(), [{"id": 1, "phone": "+15550001111", "notes": "Ana called"}])
    _move_calls_to_second_system(store)
    monkeypatch.setenv("CALLS_URL", other)
    with (
        session_for(store) as s,
        pytest.raises(ConnectorError, match="nothing was changed in any database"),
    ):
        erase(s, ids(s, email=m.ANA, phone="+15550001111"))
    assert store.count(m.sessions) == 4
    assert store.rows(m.customers, m.customers.c.id == 1)[0].email == m.ANA
    with engine.connect() as conn:
        assert conn.execute(sa.select(calls.c.notes)).scalar_one() == "Ana called"
    engine.dispose()


def _move_calls_to_second_system(store: m.MiniStore) -> None:
    """Declare the call log as a dataset of a second system, reached by $CALLS_URL."""
    _move_to_second_system(store, "calls", {"url": {"$env": "CALLS_URL"}})


def _move_to_second_system(store: m.MiniStore, name: str, connection: dict | None) -> None:  # type: ignore[type-arg]
    """Declare one mini collection as dataset ``z<name>`` of a second system."""
    shop = store.config.parent / "datasets" / "shop.yml"
    data = yaml.safe_load(shop.read_text())
    (calls,) = [c for c in data["dataset"][0]["collections"] if c["name"] == name]
    data["dataset"][0]["collections"].remove(calls)
    for coll in data["dataset"][0]["collections"]:
        for f in coll["fields"]:
            for ref in (f.get("fides_meta") or {}).get("references", []):
                if ref["field"].startswith(f"{name}."):
                    ref["dataset"] = f"z{name}"
    shop.write_text(yaml.safe_dump(data))
    (store.config.parent / "datasets" / f"{name}.yml").write_text(
        yaml.safe_dump({"dataset": [{"fides_key": f"z{name}", "collections": [calls]}]})
    )
    old, new = f"mini.{name}", f"z{name}.{name}"
    config = yaml.safe_load(store.config.read_text())
    system = {"key": f"{name}_db", "name": f"The {name} system"}
    if connection is not None:
        system["connection"] = connection
    config["systems"].append(system)
    config["datasets"].append({"include": f"datasets/{name}.yml", "system": f"{name}_db"})
    for rule in config["erasure"]:
        rule["target"] = rule["target"].replace(old, new)
    for section in ("purposes", "kept_until", "retention"):
        for item in config.get(section, []):
            item["collections"] = [c.replace(old, new) for c in item["collections"]]
    store.config.write_text(yaml.safe_dump(config))


def test_results_larger_than_a_batch_stream_in_batches(store: m.MiniStore) -> None:
    # Batches of 1 make the first bounded query overflow, so rows come from the
    # streaming path; the walk must see exactly the same rows.
    with session_for(store) as s:
        connector = s.connector("mini.sessions")
        selector = Selector((Match("cookie_id", frozenset({"ck-ana", "ck-anon"})),))
        batches = list(connector.read("mini.sessions", ["id"], selector, batch_size=1))
    assert sorted(r[0] for b in batches for r in b) == [1000, 1001, 1002]
    assert all(len(b) == 1 for b in batches)


def test_collections_behind_a_system_without_connector_are_listed_for_people(
    store: m.MiniStore, tmp_path: Path
) -> None:
    # Orders live in a system no connector reaches; their items are found only
    # through orders, so both must be handed to staff rather than shown as empty.
    _move_to_second_system(store, "orders", None)
    with session_for(store) as s:
        got = access(s, ids(s, email=m.ANA), tmp_path / "a.zip")
        result = erase(s, ids(s, email=m.ANA))
    assert got.manual == ["zorders.orders", "mini.order_items"]
    assert result.manual == ["zorders.orders", "mini.order_items"]
    assert store.count(m.order_items) == 4


def test_access_reports_progress_batch_by_batch(store: m.MiniStore, tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    def on_rows(collection: str, n: int) -> None:
        seen[collection] = seen.get(collection, 0) + n

    with session_for(store) as s:
        result = access(s, ids(s, email=m.ANA), tmp_path / "a.zip", on_rows=on_rows)
    assert seen == {c.collection: c.rows for c in result.collections if c.rows}
