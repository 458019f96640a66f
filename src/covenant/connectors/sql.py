"""The SQL connector: SQLite, PostgreSQL and MariaDB/MySQL through SQLAlchemy 2.

Every call is one set-based statement per collection (the counts of a whole
erasure proof are one statement per database). Tables are described from the
catalog, not reflected, so a request costs no schema round-trips; reflection
happens only to validate a correction's values. Value lists larger than
``CHUNK`` are split across statements, because each backend caps the number
of bound parameters in one statement.
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
    CountRequest,
    Delete,
    Hash,
    Match,
    Mutation,
    Selector,
    SetNull,
    SetValue,
    Staged,
    Update,
)
from covenant.connectors.sqltext import Renderer
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
            path = base_dir / path
            parsed = parsed.set(database=str(path))
        if not path.is_file():  # connecting would silently create an empty store
            raise ConnectorError(f"the SQLite database {path} does not exist")
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "mysql" and parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername="mysql+pymysql")
    return parsed


def make_engine(url: URL) -> Engine:
    try:
        return _engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        backend = url.drivername
        raise ConnectorError(f"cannot use a '{backend}' database here: {exc}") from None


def _engine(url: URL) -> Engine:
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
        self.sql = Renderer(self.engine.dialect)

    def __repr__(self) -> str:
        return f"SQLConnector({self.url.render_as_string(hide_password=True)})"

    def _table(self, collection: str) -> str:
        return self.collections[collection].name

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
        parts = chunks(selector)
        # A row matching two chunks would come back twice; the key tells them apart.
        pk = self.collections[collection].primary_key
        keep = [columns.index(k) for k in pk if k in columns] if len(parts) > 1 else []
        seen: set[tuple[Any, ...]] = set()
        with self._connect() as conn:
            for part in parts:
                for rows in self._fetch(conn, collection, columns, part, batch_size):
                    if keep:
                        rows = [r for r in rows if _first(seen, tuple(r[i] for i in keep))]
                    if rows:
                        yield rows

    def _fetch(
        self,
        conn: sa.Connection,
        collection: str,
        columns: Sequence[str],
        selector: Selector,
        batch_size: int,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Small results in one plain query; large ones streamed from a server-side cursor.

        A server-side cursor costs extra round trips (declare, fetch, close), more
        than the whole lookup for a typical person, so it is used only once a
        first, bounded query shows the result does not fit in one batch.
        """
        table = self._table(collection)
        stmt, params = self.sql.select(table, columns, selector, limit=batch_size + 1)
        first = [tuple(r) for r in conn.execute(stmt, params)]
        if len(first) <= batch_size:
            yield first
            return
        stmt, params = self.sql.select(table, columns, selector)
        result = conn.execution_options(yield_per=batch_size).execute(stmt, params)
        for batch in result.partitions(batch_size):
            yield [tuple(r) for r in batch]

    def count(
        self, collection: str, selector: Selector, *, where_not: Mapping[str, Any] | None = None
    ) -> int:
        return self.count_many([CountRequest(collection, selector, where_not)])[0]

    def count_many(self, requests: Sequence[CountRequest]) -> list[int]:
        """All counts as scalar subqueries of one SELECT: one round trip, not one per collection."""
        out = [0] * len(requests)
        simple = []
        for i, r in enumerate(requests):
            if r.selector.empty:
                continue
            if len(chunks(r.selector)) > 1:
                out[i] = self._count_chunked(r)
            else:
                simple.append(i)
        if not simple:
            return out
        parts = [
            self.sql.count_subquery(
                self._table(requests[i].collection),
                requests[i].selector,
                requests[i].where_not,
                f"q{i}_",
            )
            for i in simple
        ]
        for batch in _by_budget(list(zip(simple, parts, strict=True))):
            stmt, params = self.sql.counts([part for _, part in batch])
            try:
                with self._connect() as conn:
                    row = conn.execute(stmt, params).one()
            except sa.exc.DBAPIError as exc:
                raise ConnectorError(
                    f"{self.system.key}: counting failed: {_reason(exc)}"
                ) from None
            for (i, _), value in zip(batch, row, strict=True):
                out[i] = int(value)
        return out

    def _count_chunked(self, r: CountRequest) -> int:
        """Distinct keys across chunks, since one row may match several."""
        info = self.collections[r.collection]
        key = list(info.primary_key) or list(info.fields)
        seen: set[tuple[Any, ...]] = set()
        try:
            with self._connect() as conn:
                for part in chunks(r.selector):
                    stmt, params = self.sql.keys(info.name, key, part, r.where_not)
                    seen.update(tuple(row) for row in conn.execute(stmt, params))
        except sa.exc.DBAPIError as exc:
            raise ConnectorError(f"{self.system.key}: counting failed: {_reason(exc)}") from None
        return len(seen)

    def stage(self, mutations: Sequence[Mutation]) -> Staged:
        conn = self._connect()
        transaction = conn.begin()
        affected: list[int] = []
        try:
            for mutation in mutations:
                totals: dict[str, int] = {}
                for part, (stmt, params) in self._statements(mutation):
                    result = conn.execute(stmt, params)
                    totals[part] = totals.get(part, 0) + max(result.rowcount, 0)
                # Rows, not statements: an update that nulls some fields and
                # hashes others touches each row more than once.
                affected.append(totals.get("rows", max(totals.values(), default=0)))
        except sa.exc.DBAPIError as exc:
            transaction.rollback()
            conn.close()
            raise ConnectorError(
                f"{self.system.key}: the database refused the change: {_reason(exc)}"
            ) from None
        return _SQLStaged(self.system.key, conn, transaction, affected)

    def _statements(
        self, mutation: Mutation
    ) -> Iterator[tuple[str, tuple[sa.TextClause, dict[str, Any]]]]:
        """Statements for one mutation, each tagged with what its row count measures."""
        table = self._table(mutation.collection)
        for part in chunks(mutation.selector):
            if isinstance(mutation, Delete):
                yield "rows", self.sql.delete(table, part)
                continue
            assert isinstance(mutation, Update)
            plain = {
                k: _plain(v) for k, v in mutation.assignments.items() if not isinstance(v, Hash)
            }
            if plain:
                yield "rows", self.sql.update(table, part, plain)
            for name, h in mutation.assignments.items():
                if isinstance(h, Hash):
                    items = list(h.mapping.items())
                    step = max(1, CHUNK // 4)
                    for i in range(0, len(items), step):
                        yield (
                            name,
                            self.sql.rehash(table, part, name, dict(items[i : i + step])),
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


PARAMS = 30_000
"""Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535."""


def _by_budget(
    parts: list[tuple[int, tuple[str, dict[str, Any], list[str]]]],
) -> Iterator[list[tuple[int, tuple[str, dict[str, Any], list[str]]]]]:
    """Group count subqueries so no statement binds more than ``PARAMS`` values."""
    batch: list[tuple[int, tuple[str, dict[str, Any], list[str]]]] = []
    used = 0
    for item in parts:
        params = item[1][1]
        size = sum(len(v) if isinstance(v, list) else 1 for v in params.values())
        if batch and used + size > PARAMS:
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += size
    if batch:
        yield batch


def chunks(selector: Selector) -> list[Selector]:
    """The selector, split so no statement binds more than ``CHUNK`` values."""
    matches = [m for m in selector.any_of if m.values]
    if not matches:
        return []
    if sum(len(m.values) for m in matches) <= CHUNK:
        return [selector]
    out = []
    for m in matches:
        values = sorted(m.values, key=repr)
        for i in range(0, len(values), CHUNK):
            out.append(Selector((Match(m.field, frozenset(values[i : i + CHUNK])),), selector.hold))
    return out


class _SQLStaged(Staged):
    def __init__(
        self, system: str, conn: sa.Connection, transaction: sa.RootTransaction, affected: list[int]
    ) -> None:
        self.system, self.conn, self.transaction, self.affected = (
            system,
            conn,
            transaction,
            affected,
        )

    def commit(self) -> None:
        try:
            self.transaction.commit()
        except sa.exc.DBAPIError as exc:
            raise ConnectorError(f"{self.system}: the commit failed: {_reason(exc)}") from None
        finally:
            self.conn.close()

    def rollback(self) -> None:
        try:
            self.transaction.rollback()
        finally:
            self.conn.close()


def _plain(a: Any) -> Any:
    if isinstance(a, SetNull):
        return None
    assert isinstance(a, SetValue)
    return a.value


def _first(seen: set[tuple[Any, ...]], key: tuple[Any, ...]) -> bool:
    if key in seen:
        return False
    seen.add(key)
    return True


def _reason(exc: sa.exc.DBAPIError) -> str:
    """The database's own message, first line only, without SQL or parameters."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
