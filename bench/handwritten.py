"""The hand-written SQL a careful engineer would write for the demo store.

It does the same work as Covenant's engine for one person (same rows, same
columns, same strategies and retention holds), as a baseline the benchmark
compares against in the same run. It knows the demo schema by heart, which is
exactly what Covenant avoids; it exists only to measure against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import sqlalchemy as sa

C = ":cids"
"""The customer ids, looked up first (as a careful engineer would: an OR across two
columns inside a subquery defeats PostgreSQL's planner, which then scans)."""
CUSTOMERS = "SELECT id FROM customers WHERE email = :e UNION SELECT id FROM customers WHERE phone = :p"
DEVICES = f"(SELECT device_id FROM app_installs WHERE customer_id IN {C})"
SESSIONS = f"(SELECT id FROM web_sessions WHERE customer_id IN {C})"
ADDRESSES = f"(SELECT id FROM addresses WHERE customer_id IN {C})"
ORDERS = (
    f"(SELECT id FROM orders WHERE customer_id IN {C} "
    f"UNION SELECT id FROM orders WHERE shipping_address_id IN {ADDRESSES})"
)
"""A UNION, not an OR: an OR with a subquery makes PostgreSQL scan the whole table."""

ACCESS = {
    "customers": "SELECT id, email, phone, first_name, last_name, date_of_birth, created_at "
    f"FROM customers WHERE id IN {C}",
    "call_records": "SELECT * FROM call_records WHERE caller_phone = :p",
    "contest_entries": f"SELECT * FROM contest_entries WHERE email = :e OR customer_id IN {C}",
    "addresses": f"SELECT * FROM addresses WHERE customer_id IN {C}",
    "app_installs": f"SELECT * FROM app_installs WHERE customer_id IN {C}",
    "marketing_preferences": f"SELECT * FROM marketing_preferences WHERE customer_id IN {C}",
    "product_registrations": f"SELECT * FROM product_registrations WHERE customer_id IN {C}",
    "reviews": f"SELECT * FROM reviews WHERE customer_id IN {C}",
    "support_tickets": f"SELECT * FROM support_tickets WHERE customer_id IN {C}",
    "survey_responses": f"SELECT * FROM survey_responses WHERE customer_id IN {C}",
    "web_sessions": f"SELECT * FROM web_sessions WHERE customer_id IN {C}",
    "orders": f"SELECT * FROM orders WHERE id IN {ORDERS}",
    "location_pings": f"SELECT * FROM location_pings WHERE device_id IN {DEVICES}",
    "page_views": f"SELECT * FROM page_views WHERE session_id IN {SESSIONS}",
    "voice_recordings": f"SELECT * FROM voice_recordings WHERE device_id IN {DEVICES}",
    "order_items": f"SELECT * FROM order_items WHERE order_id IN {ORDERS}",
    "payments": "SELECT id, order_id, placed_at, card_brand, card_last4, card_expiry "
    f"FROM payments WHERE order_id IN {ORDERS}",
    "returns": f"SELECT * FROM returns WHERE order_id IN {ORDERS}",
}

ERASE = [
    f"DELETE FROM location_pings WHERE device_id IN {DEVICES}",
    f"DELETE FROM voice_recordings WHERE device_id IN {DEVICES}",
    f"DELETE FROM page_views WHERE session_id IN {SESSIONS} AND started_at < :web",
    f"DELETE FROM order_items WHERE order_id IN {ORDERS} AND placed_at < :tax",
    f"DELETE FROM payments WHERE order_id IN {ORDERS} AND placed_at < :tax",
    f"DELETE FROM returns WHERE order_id IN {ORDERS} AND created_at < :ret",
    f"DELETE FROM orders WHERE id IN {ORDERS} AND placed_at < :tax",
    f"DELETE FROM addresses WHERE customer_id IN {C}",
    f"DELETE FROM app_installs WHERE customer_id IN {C}",
    f"DELETE FROM web_sessions WHERE customer_id IN {C} AND started_at < :web",
    f"DELETE FROM product_registrations WHERE customer_id IN {C}",
    f"DELETE FROM support_tickets WHERE customer_id IN {C}",
    f"DELETE FROM survey_responses WHERE customer_id IN {C}",
    f"DELETE FROM contest_entries WHERE email = :e OR customer_id IN {C}",
    f"UPDATE reviews SET customer_id = NULL, title = 'Review removed', "
    f"body = '[removed at the author''s request]' WHERE customer_id IN {C}",
    "UPDATE call_records SET caller_phone = :hp, summary = '[erased on request]' "
    "WHERE caller_phone = :p",
    "UPDATE customers SET email = NULL, phone = NULL, first_name = NULL, last_name = NULL, "
    f"password_hash = NULL, date_of_birth = NULL WHERE id IN {C}",
]


def _text(sql: str) -> sa.TextClause:
    stmt = sa.text(sql)
    return stmt.bindparams(sa.bindparam("cids", expanding=True)) if ":cids" in sql else stmt


def _ids(conn: sa.Connection, email: str, phone: str) -> list[int]:
    return list(conn.execute(sa.text(CUSTOMERS), {"e": email, "p": phone}).scalars()) or [-1]


def access(conn: sa.Connection, email: str, phone: str) -> int:
    params = {"e": email, "p": phone, "cids": _ids(conn, email, phone)}
    rows = 0
    for sql in ACCESS.values():
        rows += len(conn.execute(_text(sql), params).fetchall())
    return rows


def erase(engine: sa.Engine, email: str, phone: str, now: dt.datetime, key: bytes) -> None:
    params: dict[str, Any] = {
        "e": email,
        "p": phone,
        "tax": _years_ago(now, 7),
        "ret": _years_ago(now, 2),
        "web": _months_ago(now, 13),
        "hp": hmac.new(key, phone.encode(), hashlib.sha256).hexdigest(),
    }
    with engine.begin() as conn:
        params["cids"] = _ids(conn, email, phone)
        for sql in ERASE:
            conn.execute(_text(sql), params)


def _years_ago(now: dt.datetime, years: int) -> dt.datetime:
    return now.replace(year=now.year - years)


def _months_ago(now: dt.datetime, months: int) -> dt.datetime:
    year, month = divmod(now.month - 1 - months, 12)
    return now.replace(year=now.year + year, month=month + 1, day=min(now.day, 28))
