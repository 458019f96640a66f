"""The Fides dataset that describes the demo store, derived from its SQLAlchemy metadata.

Owns the translation of table metadata into fideslang's Dataset shape: categories
and identities from ``Column.info``, primary keys, and one reference per foreign
key. A foreign key becomes ``direction: from``: the referenced rows' values select
the rows that point at them (customers.id selects orders by customer_id). Pure
code: it builds a mapping and never touches a database or a file.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Date, DateTime, Integer, Numeric, String, Table

from covenant.demo.schema import DATASET, TABLES, categories, identity


def dataset() -> dict[str, Any]:
    """The fideslang Dataset for every demo table, as plain data ready for YAML."""
    return {
        "fides_key": DATASET,
        "name": "Resonance Audio web store",
        "description": "The store's database: accounts, orders, support, web logs and the app.",
        "collections": [_collection(t) for t in sorted(TABLES, key=lambda t: t.name)],
    }


def document() -> dict[str, Any]:
    """A Fides dataset file's content: a top-level ``dataset:`` list."""
    return {"dataset": [dataset()]}


def _collection(table: Table) -> dict[str, Any]:
    return {
        "name": str(table.name),
        "description": str(table.info["description"]),
        "fields": [_field(c) for c in table.columns],
    }


def _field(column: Column[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": str(column.name),
        "description": str(column.info["description"]),
        "data_categories": list(categories(column)),
    }
    meta = _meta(column)
    if meta:
        out["fides_meta"] = meta
    return out


def _meta(column: Column[Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if column.primary_key:
        meta["primary_key"] = True
    kind = identity(column)
    if kind:
        meta["identity"] = kind
    references = [
        {"dataset": DATASET, "field": f"{fk.column.table.name}.{fk.column.name}",
         "direction": "from"}
        for fk in column.foreign_keys
    ]
    if references:
        meta["references"] = references
    data_type = _data_type(column)
    if data_type:
        meta["data_type"] = data_type
    if isinstance(column.type, String) and column.type.length:
        meta["length"] = column.type.length
    return meta


def _data_type(column: Column[Any]) -> str | None:
    """fideslang's data type; dates and timestamps have none, so they are left unset."""
    kind = column.type
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Integer):  # BigInteger included
        return "integer"
    if isinstance(kind, Numeric):
        return "float"
    if isinstance(kind, String):  # Text included
        return "string"
    if isinstance(kind, Date | DateTime):
        return None
    raise TypeError(f"no fideslang data type for {column.table.name}.{column.name}: {kind!r}")
