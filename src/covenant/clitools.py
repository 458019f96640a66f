"""What every ``covenant`` subcommand shares: clear errors, and Covenant's own database.

A failure Covenant knows about ends with its message and exit code, never a
stack trace; a database that refuses ends with exit 3 and the error's kind,
never its text (which may hold a password or a person's data).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import sqlalchemy as sa
import typer
from rich.console import Console

from covenant.errors import ConnectorError, CovenantError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

# The options every command group spells the same way.
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The declaration, covenant.yml.")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print structured JSON instead of a summary.")
]


def guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except CovenantError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except sa.exc.SQLAlchemyError as exc:
        err.print(f"[bold red]error:[/] the database refused: {type(exc).__name__}", markup=True)
        raise typer.Exit(ConnectorError.exit_code) from None


@contextmanager
def state_engine(config: Path, *, table: str, holds: str) -> Iterator[sa.Engine]:
    """Covenant's own database for ``config`` (COVENANT_DATABASE_URL, or SQLite beside it),
    which must already hold ``table``; ``holds`` names it in the error ("no audit trail")."""
    from covenant.db import connect, state_url
    from covenant.settings import Settings

    settings = Settings(config=config)
    raw = settings.database_url.get_secret_value() if settings.database_url else None
    url = state_url(raw, config.resolve().parent)
    shown = url.render_as_string(hide_password=True)
    database = url.database or ""
    # Connecting to a missing SQLite file would create an empty one; say what is missing.
    on_disk = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if on_disk and not Path(database).exists():
        raise ConnectorError(f"{shown} does not exist; run covenant db upgrade first")
    engine = connect(url)
    try:
        try:
            with engine.connect() as conn:
                ready = sa.inspect(conn).has_table(table)
        except sa.exc.SQLAlchemyError as exc:
            raise ConnectorError(f"cannot reach {shown}: {type(exc).__name__}") from None
        if not ready:
            raise ConnectorError(f"{shown} has {holds}; run covenant db upgrade first")
        yield engine
    finally:
        engine.dispose()


def audit_key() -> bytes | None:
    from covenant.audit import key_from_env

    return key_from_env(os.environ)
