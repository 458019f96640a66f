"""The mini shop of ``fixtures/mini``, built in a real database for engine tests."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

FIXTURE = Path(__file__).parent / "fixtures" / "mini"
NOW = dt.datetime(2026, 11, 22, 12, 0, 0)
OLD = NOW - dt.timedelta(days=365 * 9)
RECENT = NOW - dt.timedelta(days=200)

md = sa.MetaData()
customers = sa.Table(
    "customers",
    md,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200)),
    sa.Column("password_hash", sa.String(200)),
)
orders = sa.Table(
    "orders",
    md,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column(
        "customer_id", sa.BigInteger, sa.ForeignKey("customers.id"), nullable=False, index=True
    ),
    sa.Column("placed_at", sa.DateTime, nullable=False),
    sa.Column("total_cents", sa.Integer, nullable=False),
)
order_items = sa.Table(
    "order_items",
    md,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("placed_at", sa.DateTime, nullable=False),
    sa.Column("sku", sa.String(40), nullable=False),
)
sessions = sa.Table(
    "sessions",
    md,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("cookie_id", sa.String(64), nullable=False, index=True),
    sa.Column("customer_id", sa.BigInteger, sa.ForeignKey("customers.id"), index=True),
    sa.Column("ip_address", sa.String(45)),
)
calls = sa.Table(
    "calls",
    md,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("phone", sa.String(32), index=True),
    sa.Column("notes", sa.Text),
)

ANA = "ana.lópez@example.com"
BOB = "bob@example.com"


@dataclass
class MiniStore:
    config: Path
    url: str
    engine: sa.Engine

    def count(self, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(*where)
                ).scalar_one()
            )

    def rows(
        self, table: sa.Table, *where: sa.ColumnElement[bool]
    ) -> list[sa.Row[tuple[object, ...]]]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(table).where(*where).order_by(table.c.id)))


def build(url: str, folder: Path) -> MiniStore:
    """Copy the fixture declaration into ``folder`` and load the mini shop into ``url``."""
    target = folder / "mini"
    shutil.copytree(FIXTURE, target, dirs_exist_ok=True)
    engine = sa.create_engine(url)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            customers.insert(),
            [
                {
                    "id": 1,
                    "email": ANA,
                    "name": "Ana López",
                    "password_hash": "$argon2id$v=19$secret",
                },
                {
                    "id": 2,
                    "email": BOB,
                    "name": "Bob O'Brien",
                    "password_hash": "$argon2id$v=19$other",
                },
            ],
        )
        conn.execute(
            orders.insert(),
            [
                {"id": 10, "customer_id": 1, "placed_at": OLD, "total_cents": 1999},
                {"id": 11, "customer_id": 1, "placed_at": RECENT, "total_cents": 4999},
                {"id": 12, "customer_id": 2, "placed_at": OLD, "total_cents": 999},
            ],
        )
        conn.execute(
            order_items.insert(),
            [
                {"id": 100, "order_id": 10, "placed_at": OLD, "sku": "SPK-1"},
                {"id": 101, "order_id": 10, "placed_at": OLD, "sku": "SPK-2"},
                {"id": 102, "order_id": 11, "placed_at": RECENT, "sku": "HP-1"},
                {"id": 103, "order_id": 12, "placed_at": OLD, "sku": "HP-2"},
            ],
        )
        conn.execute(
            sessions.insert(),
            [
                {"id": 1000, "cookie_id": "ck-ana", "customer_id": 1, "ip_address": "203.0.113.7"},
                {"id": 1001, "cookie_id": "ck-ana", "customer_id": 1, "ip_address": "203.0.113.8"},
                {
                    "id": 1002,
                    "cookie_id": "ck-anon",
                    "customer_id": None,
                    "ip_address": "198.51.100.1",
                },
                {"id": 1003, "cookie_id": "ck-bob", "customer_id": 2, "ip_address": "198.51.100.2"},
            ],
        )
        conn.execute(
            calls.insert(),
            [
                {"id": 1, "phone": "+15550001111", "notes": "Ana asked about her headphones"},
                {"id": 2, "phone": "+15550002222", "notes": "Someone else"},
            ],
        )
    return MiniStore(config=target / "covenant.yml", url=url, engine=engine)
