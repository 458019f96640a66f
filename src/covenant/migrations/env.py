"""Alembic's entry point: runs migrations against the URL the caller configured."""

from __future__ import annotations

from alembic import context

import covenant.api.tables
import covenant.audit.store
import covenant.consent.ledger
import covenant.consent.prefs_web
import covenant.desk.tables
import covenant.mail.tables
import covenant.requests.tables  # noqa: F401
from covenant.db import connect, metadata
from covenant.staff import tables as staff_tables  # noqa: F401

MIGRATION_LOCK = 0x636F765F6D696772  # "cov_migr": an advisory-lock key of our own

url = context.config.attributes["url"]
engine = connect(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=url.get_backend_name() == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        # Several processes may start at once (serve --workers, a worker beside the
        # service): one migrates while the others wait, then find nothing left to do.
        # PostgreSQL's lock ends with the transaction; MariaDB's with the session.
        backend = url.get_backend_name()
        if backend == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        elif backend in ("mysql", "mariadb"):
            connection.exec_driver_sql("SELECT GET_LOCK('covenant_migrations', 300)")
        context.run_migrations()
engine.dispose()
