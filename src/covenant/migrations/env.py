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
        context.run_migrations()
engine.dispose()
