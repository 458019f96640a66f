"""The SQL connector: SQLite, PostgreSQL and MariaDB/MySQL through SQLAlchemy 2 Core.

Every call compiles to one set-based statement per collection. Tables are
described from the catalog, not reflected, so a request costs no schema
round-trips; reflection happens only to validate a correction's values.
Value lists larger than ``CHUNK`` are split across statements, because each
backend caps the number of bound parameters in one statement.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from covenant.connectors.base import (
    ColumnType,
    Connector,
    Delete,
    Hash,
    HoldFilter,
    Match,
    Mutation,
    Selector,
    SetNull,
    SetValue,
    Update,
)
from covenant.declaration.catalog import CollectionInfo
from covenant.declaration.model import EnvRef, System
from covenant.errors import ConnectorError

CHUNK = 10_000


def resolve_url(url: str | EnvRef, base_dir: Path) -> URL:
    """The connection URL, with ``$env`` references read and SQLite paths made absolute."""
    if isinstance(url, EnvRef):
        raw = os.environ.get(url.env)
        if not raw:
            raise ConnectorError(f"environment variable {url.env} is not set")
    else:
        raw = url
    try:
        parsed = make_url(raw)
    except sa.exc.ArgumentError:
        raise ConnectorError("the connection URL is not a valid database URL") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str(base_dir / path))
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "mysql" and parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername="mysql+pymysql")
    return parsed


def make_engine(url: URL) -> Engine:
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
    elif url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 10}
    elif url.get_backend_name() == "mysql":
        kwargs["connect_args"] = {"connect_timeout": 10, "charset": "utf8mb4"}
    engine = sa.create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; the engine's children-first
    # ordering must be checked by the database, not assumed.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class SQLConnector(Connector):
    def __init__(
        self, *, system: System, collections: Mapping[str, CollectionInfo], base_dir: Path
    ) -> None:
        super().__init__(system=system, collections=collections, base_dir=base_dir)
        if system.connection is None:
            raise ConnectorError(f"system '{system.key}' has no connection")
        self.url = resolve_url(system.connection.url, base_dir)
        self.engine = make_engine(self.url)
        self._tables: dict[str, sa.TableClause] = {}

    def __repr__(self) -> str:
        return f"SQLConnector({self.url.render_as_string(hide_password=True)})"

    # -- statements -------------------------------------------------------

    def table(self, collection: str) -> sa.TableClause:
        if collection not in self._tables:
            info = self.collections[collection]
            self._tables[collection] = sa.table(info.name, *(sa.column(f) for f in info.fields))
        return self._tables[collection]

    def _where(self, t: sa.TableClause, selector: Selector) -> Iterator[sa.ColumnElement[bool]]:
        """One WHERE clause per chunk of values; a single clause in the usual case."""
        matches = [m for m in selector.any_of if m.values]
        total = sum(len(m.values) for m in matches)
        hold = self._hold(t, selector.hold)
        if total <= CHUNK:
            clauses = [t.c[m.field].in_(list(m.values)) for m in matches]
            yield sa.and_(sa.or_(*clauses), *hold)
            return
        for m in matches:
            values = list(m.values)
            for i in range(0, len(values), CHUNK):
                yield sa.and_(t.c[m.field].in_(values[i : i + CHUNK]), *hold)

    @staticmethod
    def _hold(t: sa.TableClause, hold: HoldFilter | None) -> list[sa.ColumnElement[bool]]:
        if hold is None:
            return []
        anchor = t.c[hold.anchor]
        held = sa.or_(anchor.is_(None), anchor >= hold.cutoff)
        return [held if hold.held else sa.not_(held)]

    def _chunked(self, selector: Selector) -> bool:
        return sum(len(m.values) for m in selector.any_of) > CHUNK

    # -- interface --------------------------------------------------------

    def read(
        self, collection: str, columns: Sequence[str], selector: Selector, *, batch_size: int = 5000
    ) -> Iterator[list[tuple[Any, ...]]]:
        try:
            yield from self._read(collection, columns, selector, batch_size)
        except sa.exc.DBAPIError as exc:
            raise ConnectorError(
                f"{self.system.key}: reading {collection} failed: {_reason(exc)}"
            ) from None

    def _read(
        self, collection: str, columns: Sequence[str], selector: Selector, batch_size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        if selector.empty:
            return
        t = self.table(collection)
        dedupe = self._chunked(selector) and len([m for m in selector.any_of if m.values]) > 1
        pk = self.collections[collection].primary_key
        keep = [columns.index(k) for k in pk if k in columns] if dedupe else []
        seen: set[tuple[Any, ...]] = set()
        with self._connect() as conn:
            for where in self._where(t, selector):
                stmt = sa.select(*(t.c[c] for c in columns)).where(where)
                result = conn.execution_options(yield_per=batch_size).execute(stmt)
                for part in result.partitions(batch_size):
                    rows = [tuple(r) for r in part]
                    if keep:
                        rows = [r for r in rows if _first(seen, tuple(r[i] for i in keep))]
                    if rows:
                        yield rows

    def count(
        self, collection: str, selector: Selector, *, where_not: Mapping[str, Any] | None = None
    ) -> int:
        try:
            return self._count(collection, selector, where_not)
        except sa.exc.DBAPIError as exc:
            raise ConnectorError(
                f"{self.system.key}: counting {collection} failed: {_reason(exc)}"
            ) from None

    def _count(
        self, collection: str, selector: Selector, where_not: Mapping[str, Any] | None
    ) -> int:
        if selector.empty:
            return 0
        t = self.table(collection)
        extra = _violations(t, where_not) if where_not else []
        if self._chunked(selector):
            pk = list(self.collections[collection].primary_key) or list(
                self.collections[collection].fields
            )
            seen: set[tuple[Any, ...]] = set()
            with self._connect() as conn:
                for where in self._where(t, selector):
                    stmt = sa.select(*(t.c[c] for c in pk)).where(where, *extra)
                    seen.update(tuple(r) for r in conn.execute(stmt))
            return len(seen)
        with self._connect() as conn:
            (where,) = list(self._where(t, selector))
            stmt = sa.select(sa.func.count()).select_from(t).where(where, *extra)
            return int(conn.execute(stmt).scalar_one())

    def apply(self, mutations: Sequence[Mutation]) -> list[int]:
        affected: list[int] = []
        try:
            with self.engine.begin() as conn:
                for mutation in mutations:
                    totals: dict[str, int] = {}
                    for part, stmt in self._statements(mutation):
                        totals[part] = totals.get(part, 0) + max(conn.execute(stmt).rowcount, 0)
                    # Rows, not statements: an update that nulls some fields and
                    # hashes others touches each row more than once.
                    affected.append(totals.get("rows", max(totals.values(), default=0)))
        except sa.exc.DBAPIError as exc:
            raise ConnectorError(
                f"{self.system.key}: the change was rolled back: {_reason(exc)}"
            ) from None
        return affected

    def _statements(self, mutation: Mutation) -> Iterator[tuple[str, sa.Executable]]:
        """Statements for one mutation, each tagged with what its row count measures."""
        if mutation.selector.empty:
            return
        t = self.table(mutation.collection)
        if isinstance(mutation, Delete):
            for where in self._where(t, mutation.selector):
                yield "rows", sa.delete(t).where(where)
            return
        assert isinstance(mutation, Update)
        plain = {k: _plain(v) for k, v in mutation.assignments.items() if not isinstance(v, Hash)}
        hashed = {k: v for k, v in mutation.assignments.items() if isinstance(v, Hash)}
        for where in self._where(t, mutation.selector):
            if plain:
                yield "rows", sa.update(t).where(where).values(plain)
            for name, h in hashed.items():
                items = list(h.mapping.items())
                for i in range(0, len(items), CHUNK // 2):
                    part = dict(items[i : i + CHUNK // 2])
                    col = t.c[name]
                    yield name, (
                        sa.update(t)
                        .where(where, col.in_(list(part)))
                        .values({name: sa.case(part, value=col, else_=col)})
                    )

    def column_types(self, collection: str) -> dict[str, ColumnType]:
        name = self.collections[collection].name
        try:
            columns = sa.inspect(self.engine).get_columns(name)
        except sa.exc.DBAPIError as exc:
            raise ConnectorError(f"{self.system.key}: {_reason(exc)}") from None
        out: dict[str, ColumnType] = {}
        for c in columns:
            try:
                kind: type = c["type"].python_type
            except NotImplementedError:
                kind = str
            length = getattr(c["type"], "length", None)
            out[c["name"]] = ColumnType(
                kind, length if isinstance(length, int) else None, bool(c["nullable"])
            )
        return out

    def close(self) -> None:
        self.engine.dispose()

    def _connect(self) -> sa.Connection:
        try:
            return self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise ConnectorError(f"{self.system.key}: cannot connect: {_reason(exc)}") from None


def _plain(a: Any) -> Any:
    if isinstance(a, SetNull):
        return None
    assert isinstance(a, SetValue)
    return a.value


def _violations(t: sa.TableClause, where_not: Mapping[str, Any]) -> list[sa.ColumnElement[bool]]:
    parts: list[sa.ColumnElement[bool]] = []
    for name, expected in where_not.items():
        col = t.c[name]
        if expected is None:
            parts.append(col.is_not(None))
        elif isinstance(expected, frozenset):
            allowed = [col.not_in(list(expected))] if expected else []
            parts.append(sa.and_(col.is_not(None), *allowed))
        else:
            parts.append(col != expected)
    return [sa.or_(*parts)] if parts else [sa.false()]


def _first(seen: set[tuple[Any, ...]], key: tuple[Any, ...]) -> bool:
    if key in seen:
        return False
    seen.add(key)
    return True


def _reason(exc: sa.exc.DBAPIError) -> str:
    """The database's own message, first line only, without SQL or parameters."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__


_ = Match  # re-exported for connector authors reading this module as an example
