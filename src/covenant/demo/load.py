"""Bulk-loading the demo rows into SQLite, PostgreSQL or MariaDB, set-based.

Owns the fastest ordinary way into each database: ``COPY ... FROM STDIN`` on
PostgreSQL (psycopg); on SQLite, one ``executemany`` transaction without fsync and
with the rollback journal in memory; on MariaDB/MySQL, PyMySQL's multi-row
``INSERT`` batches (``LOAD DATA LOCAL`` is a little faster but lets a server read
the client's files, so it is not used).

On every database the secondary indexes are built after the rows are in, which
is far cheaper than maintaining them row by row. On PostgreSQL and MariaDB the
foreign keys are added after the load too (PostgreSQL validates them in one
pass). SQLite cannot add a foreign key to an existing table, so its keys are
declared up front; SQLite only checks them when a connection asks it to.

It only ever drops and creates the demo's own tables, and refuses to drop a table
of the same name that has other columns: that one belongs to someone else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy import Connection, ForeignKeyConstraint, Table, inspect, text
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from covenant.demo.generate import Chunk, Row
from covenant.demo.schema import TABLES, metadata


class Reporter(Protocol):
    """Told how the load goes, for a progress display."""

    def rows(self, count: int) -> None:
        """``count`` more rows were written."""

    def phase(self, name: str) -> None:
        """A new step began: ``indexing``, ``analyzing``."""


class Backend(Protocol):
    """What differs between databases during a bulk load."""

    inline_foreign_keys: bool

    def begin(self, conn: Connection) -> None: ...

    def write(self, conn: Connection, table: Table, rows: list[Row]) -> None: ...

    def after_chunk(self, conn: Connection) -> None: ...

    def finish(self, conn: Connection) -> None: ...


def load(conn: Connection, chunks: Iterable[Chunk], report: Reporter) -> dict[str, int]:
    """Replace the demo tables with the given rows; return the row count of each table."""
    backend = backend_for(conn.dialect.name)
    backend.begin(conn)
    recreate(conn, backend.inline_foreign_keys)
    counts = {t.name: 0 for t in TABLES}
    for chunk in chunks:
        for table in TABLES:  # parents first, so an enforced key always finds its row
            rows = chunk[table.name]
            if rows:
                backend.write(conn, table, rows)
                counts[table.name] += len(rows)
                report.rows(len(rows))
        backend.after_chunk(conn)
    report.phase("indexing")
    for table in TABLES:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            conn.execute(CreateIndex(index))
    if not backend.inline_foreign_keys:
        for table in TABLES:
            for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
                # isolate_from_table=False: by default AddConstraint marks the shared
                # metadata so that later CREATE TABLEs (any database) omit the key.
                conn.execute(AddConstraint(fk, isolate_from_table=False))
    report.phase("analyzing")
    backend.finish(conn)
    conn.commit()
    return counts


class ForeignTable(Exception):
    """A table with a demo table's name, but not the demo's: never dropped."""


def recreate(conn: Connection, inline_foreign_keys: bool) -> None:
    """Drop the demo tables if present and create them bare: primary keys only."""
    _check_ownership(conn)
    metadata.drop_all(conn, checkfirst=True)
    for table in TABLES:
        fks: list[ForeignKeyConstraint] | None = None if inline_foreign_keys else []
        conn.execute(CreateTable(table, include_foreign_key_constraints=fks))
    conn.commit()


def _check_ownership(conn: Connection) -> None:
    reflected = inspect(conn)
    for name in sorted(set(reflected.get_table_names()) & set(metadata.tables)):
        found = {c["name"] for c in reflected.get_columns(name)}
        if found != set(metadata.tables[name].columns.keys()):
            raise ForeignTable(
                f"table '{name}' exists with other columns than the demo's, so it is not "
                f"a demo table; use an empty database, or drop it yourself"
            )


def backend_for(dialect: str) -> Backend:
    backends: dict[str, Callable[[], Backend]] = {
        "sqlite": SQLite,
        "postgresql": PostgreSQL,
        "mysql": MariaDB,
        "mariadb": MariaDB,
    }
    if dialect not in backends:
        raise ValueError(f"no bulk loader for {dialect}")
    return backends[dialect]()


def _columns(conn: Connection, table: Table) -> tuple[str, str]:
    """The quoted table name and its quoted column list, in row order."""
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.format_column(c) for c in table.columns)
    return quote.format_table(table), names


def _driver(conn: Connection) -> Any:
    """The DB-API connection under SQLAlchemy's, for the driver's own bulk paths."""
    return conn.connection.driver_connection


class SQLite:
    inline_foreign_keys = True

    def begin(self, conn: Connection) -> None:
        # A rollback journal kept in memory still undoes a failed load, but a crash
        # mid-load may leave the file damaged; that is acceptable for a file the
        # demo rebuilds anyway, and it makes the load several times faster.
        for pragma in ("journal_mode = MEMORY", "synchronous = OFF", "cache_size = -65536"):
            conn.exec_driver_sql(f"PRAGMA {pragma}")

    def write(self, conn: Connection, table: Table, rows: list[Row]) -> None:
        name, columns = _columns(conn, table)
        marks = ", ".join("?" for _ in table.columns)
        _driver(conn).executemany(f"INSERT INTO {name} ({columns}) VALUES ({marks})", rows)

    def after_chunk(self, conn: Connection) -> None:
        """One transaction for the whole load."""

    def finish(self, conn: Connection) -> None:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
        conn.exec_driver_sql("PRAGMA journal_mode = DELETE")
        conn.exec_driver_sql("PRAGMA synchronous = FULL")


class PostgreSQL:
    inline_foreign_keys = False

    def begin(self, conn: Connection) -> None:
        # More sort memory makes index builds one pass; session-local only.
        conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")

    def write(self, conn: Connection, table: Table, rows: list[Row]) -> None:
        name, columns = _columns(conn, table)
        with _driver(conn).cursor() as cursor, cursor.copy(
            f"COPY {name} ({columns}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)

    def after_chunk(self, conn: Connection) -> None:
        """One transaction: a failed load leaves nothing behind."""

    def finish(self, conn: Connection) -> None:
        for table in TABLES:
            name = conn.dialect.identifier_preparer.format_table(table)
            # Rows came with their ids, so move each id sequence past them.
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                     f"COALESCE(MAX(id), 0) + 1, false) FROM {name}"),
                {"t": table.name},
            )
            conn.exec_driver_sql(f"ANALYZE {name}")


class MariaDB:
    inline_foreign_keys = False

    def begin(self, conn: Connection) -> None:
        # With foreign_key_checks off, adding a foreign key after the load is an
        # in-place change instead of a copy of the whole table. Nothing is left
        # unchecked in practice: the generator numbers every reference itself, and
        # the tests look for orphans on every database.
        conn.exec_driver_sql("SET SESSION unique_checks = 0, foreign_key_checks = 0")

    def write(self, conn: Connection, table: Table, rows: list[Row]) -> None:
        name, columns = _columns(conn, table)
        marks = ", ".join("%s" for _ in table.columns)
        # PyMySQL rewrites this into multi-row INSERTs of about 1 MB each.
        with _driver(conn).cursor() as cursor:
            cursor.executemany(f"INSERT INTO {name} ({columns}) VALUES ({marks})", rows)

    def after_chunk(self, conn: Connection) -> None:
        # Commit per chunk: one huge InnoDB transaction grows the undo log for nothing.
        conn.commit()

    def finish(self, conn: Connection) -> None:
        conn.exec_driver_sql("SET SESSION unique_checks = 1, foreign_key_checks = 1")
        names = ", ".join(conn.dialect.identifier_preparer.format_table(t) for t in TABLES)
        conn.exec_driver_sql(f"ANALYZE TABLE {names}").fetchall()
