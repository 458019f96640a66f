"""Covenant's own database: where requests, consent and the audit trail live.

Not the store's databases (those are reached through connectors). SQLite in
the working folder by default, so one command runs everything; PostgreSQL in
production through ``COVENANT_DATABASE_URL``. Every table hangs off
:data:`metadata`, which Alembic migrations are checked against.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from covenant.errors import ConnectorError

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DEFAULT_FILE = "covenant-state.db"


def state_url(database_url: str | None, folder: Path) -> sa.URL:
    """The URL of Covenant's own database: the given one, or SQLite in ``folder``."""
    try:
        url = sa.make_url(database_url or f"sqlite:///{folder / DEFAULT_FILE}")
    except sa.exc.ArgumentError:
        raise ConnectorError("COVENANT_DATABASE_URL is not a valid database URL") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def connect(url: sa.URL) -> sa.Engine:
    engine = sa.create_engine(url)
    if url.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite)
    return engine


def _sqlite(dbapi_connection: object, _record: object) -> None:
    # WAL lets the web process read while a worker writes; foreign keys are
    # off by default in SQLite and must hold here as they do on PostgreSQL.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
