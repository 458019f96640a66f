"""SQL text for the engine's selectors, rendered once per shape and cached.

Building SQLAlchemy Core expressions for every request costs more than the
index seek itself on small lookups (cache-key generation dominates), so the
connector renders each statement *shape* to text once, with expanding bound
parameters, and only binds values per request. Identifiers come from the
validated declaration and are quoted by the dialect; values are always bound,
never interpolated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from covenant.connectors.base import HoldFilter, NoneOf, Selector

Params = dict[str, Any]


class Renderer:
    def __init__(self, dialect: Dialect) -> None:
        self.quote = dialect.identifier_preparer.quote
        self._text = lru_cache(maxsize=4096)(self._build)

    def _build(self, sql: str, expanding: tuple[str, ...]) -> sa.TextClause:
        return sa.text(sql).bindparams(*(sa.bindparam(n, expanding=True) for n in expanding))

    def where(self, selector: Selector, p: str = "") -> tuple[str, Params, list[str]]:
        """``(sql, params, expanding names)`` for rows the selector matches."""
        q = self.quote
        ors: list[str] = []
        params: Params = {}
        expanding: list[str] = []
        for i, m in enumerate(selector.any_of):
            if m.values:
                name = f"{p}v{i}"
                ors.append(f"{q(m.field)} IN :{name}")
                params[name] = list(m.values)
                expanding.append(name)
        sql = "(" + " OR ".join(ors) + ")" if ors else "1 = 0"
        if selector.hold is not None:
            sql += " AND " + self._hold(selector.hold, f"{p}cut")
            params[f"{p}cut"] = selector.hold.cutoff
        return sql, params, expanding

    def _hold(self, hold: HoldFilter, name: str) -> str:
        a = self.quote(hold.anchor)
        held = f"({a} IS NULL OR {a} >= :{name})"
        return held if hold.held else f"NOT {held}"

    def violations(self, where_not: Mapping[str, Any], p: str) -> tuple[str, Params, list[str]]:
        """Rows where any field is not in its erased state (see ``Connector.count``)."""
        ors: list[str] = []
        params: Params = {}
        expanding: list[str] = []
        for i, (field, expected) in enumerate(where_not.items()):
            c, name = self.quote(field), f"{p}w{i}"
            if expected is None:
                ors.append(f"{c} IS NOT NULL")
            elif isinstance(expected, NoneOf):
                ors.append(f"{c} IN :{name}")
                params[name] = list(expected.values)
                expanding.append(name)
            elif isinstance(expected, frozenset):
                if expected:
                    ors.append(f"({c} IS NOT NULL AND {c} NOT IN :{name})")
                    params[name] = list(expected)
                    expanding.append(name)
                else:
                    ors.append(f"{c} IS NOT NULL")
            else:
                ors.append(f"{c} <> :{name}")
                params[name] = expected
        return ("(" + " OR ".join(ors) + ")" if ors else "1 = 0"), params, expanding

    def select(
        self, table: str, columns: Sequence[str], selector: Selector, limit: int | None = None
    ) -> tuple[sa.TextClause, Params]:
        where, params, exp = self.where(selector)
        cols = ", ".join(self.quote(c) for c in columns)
        sql = f"SELECT {cols} FROM {self.quote(table)} WHERE {where}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._text(sql, tuple(exp)), params

    def filtered(
        self, selector: Selector, where_not: Mapping[str, Any] | None, p: str
    ) -> tuple[str, Params, list[str]]:
        """The selector's rows, narrowed to those breaking ``where_not`` when given."""
        where, params, exp = self.where(selector, p)
        if where_not:
            extra, more, more_exp = self.violations(where_not, p)
            where, params, exp = f"{where} AND {extra}", {**params, **more}, [*exp, *more_exp]
        return where, params, exp

    def count_subquery(
        self, table: str, selector: Selector, where_not: Mapping[str, Any] | None, p: str
    ) -> tuple[str, Params, list[str]]:
        where, params, exp = self.filtered(selector, where_not, p)
        return f"(SELECT COUNT(*) FROM {self.quote(table)} WHERE {where})", params, exp

    def keys(
        self,
        table: str,
        key: Sequence[str],
        selector: Selector,
        where_not: Mapping[str, Any] | None,
    ) -> tuple[sa.TextClause, Params]:
        where, params, exp = self.filtered(selector, where_not, "")
        cols = ", ".join(self.quote(k) for k in key)
        return self._text(
            f"SELECT {cols} FROM {self.quote(table)} WHERE {where}", tuple(exp)
        ), params

    def counts(self, parts: list[tuple[str, Params, list[str]]]) -> tuple[sa.TextClause, Params]:
        sql = "SELECT " + ", ".join(f"{s} AS c{i}" for i, (s, _, _) in enumerate(parts))
        params: Params = {}
        expanding: list[str] = []
        for _, ps, exp in parts:
            params.update(ps)
            expanding += exp
        return self._text(sql, tuple(expanding)), params

    def delete(self, table: str, selector: Selector) -> tuple[sa.TextClause, Params]:
        where, params, exp = self.where(selector)
        return self._text(f"DELETE FROM {self.quote(table)} WHERE {where}", tuple(exp)), params

    def update(
        self, table: str, selector: Selector, values: Mapping[str, Any]
    ) -> tuple[sa.TextClause, Params]:
        where, params, exp = self.where(selector)
        sets = []
        for i, (field, value) in enumerate(values.items()):
            if value is None:
                sets.append(f"{self.quote(field)} = NULL")
            else:
                sets.append(f"{self.quote(field)} = :s{i}")
                params[f"s{i}"] = value
        sql = f"UPDATE {self.quote(table)} SET {', '.join(sets)} WHERE {where}"
        return self._text(sql, tuple(exp)), params

    def rehash(
        self, table: str, selector: Selector, field: str, mapping: Mapping[Any, str]
    ) -> tuple[sa.TextClause, Params]:
        """Replace each old value by its hash, in one statement, with a CASE over the pairs."""
        where, params, exp = self.where(selector)
        c = self.quote(field)
        whens = []
        for i, (old, new) in enumerate(mapping.items()):
            whens.append(f"WHEN :o{i} THEN :n{i}")
            params[f"o{i}"], params[f"n{i}"] = old, new
        params["olds"] = list(mapping)
        sql = (
            f"UPDATE {self.quote(table)} SET {c} = CASE {c} {' '.join(whens)} ELSE {c} END "
            f"WHERE {where} AND {c} IN :olds"
        )
        return self._text(sql, (*exp, "olds")), params
