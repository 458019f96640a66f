"""``covenant worker``: run fulfilment jobs from the PostgreSQL queue.

Registered by the main command line as ``covenant worker``; also runs as
``python -m covenant.jobs``. Settings come from the environment as for
``covenant serve`` (``COVENANT_DATABASE_URL``, ``COVENANT_SECRET_KEY``...),
the declaration from ``--config`` or ``COVENANT_CONFIG``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from covenant.errors import ConnectorError, CovenantError
from covenant.jobs import JobsMisconfigured, uses_postgresql
from covenant.settings import Settings

err = Console(stderr=True, soft_wrap=True)


class NotOnPostgreSQL(JobsMisconfigured):
    """covenant worker needs Covenant's own database on PostgreSQL (COVENANT_DATABASE_URL); the in-process runner in covenant serve handles jobs on SQLite."""


def worker(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="The declaration. Default: COVENANT_CONFIG, else covenant.yml."
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Requests this worker fulfils at once.")
    ] = 2,
    stalled_after: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Seconds without a heartbeat before a worker counts as dead and its "
            "job goes to another worker.",
        ),
    ] = 30.0,
    name: Annotated[
        str | None, typer.Option(help="Name in the logs. Default: host and process id.")
    ] = None,
) -> None:
    """Fulfil approved requests from the job queue in Covenant's PostgreSQL database.

    Run any number, on any machines. SIGTERM or Ctrl-C stops taking jobs and
    lets the running ones finish. On SQLite there is nothing to run:
    covenant serve fulfils requests in its own process.
    """
    try:
        _run(config, concurrency, stalled_after, name)
    except CovenantError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None


def _run(config: Path | None, concurrency: int, stalled_after: float, name: str | None) -> None:
    from procrastinate.exceptions import ConnectorException
    from pydantic import ValidationError

    from covenant.desk.build import desk_from_settings
    from covenant.jobs.queue import conninfo, make_app
    from covenant.jobs.worker import work

    try:
        settings = Settings(config=config) if config is not None else Settings()
    except ValidationError as exc:
        # Names only: a rejected value may be a secret.
        names = sorted({f"COVENANT_{str(e['loc'][0]).upper()}" for e in exc.errors()})
        raise JobsMisconfigured(f"invalid settings: {', '.join(names)}") from None
    if not uses_postgresql(settings) or settings.database_url is None:
        raise NotOnPostgreSQL()
    app = make_app(
        conninfo(settings.database_url.get_secret_value()), max_connections=concurrency + 4
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    desk = desk_from_settings(settings)
    label = name or f"{socket.gethostname()}-{os.getpid()}"
    err.print(f"worker {label}: fulfilling requests, {concurrency} at a time", highlight=False)
    try:
        asyncio.run(
            work(
                app,
                fulfil=desk.fulfil,
                pending=desk.pending_fulfilment,
                concurrency=concurrency,
                stalled_after=stalled_after,
                name=label,
            )
        )
    except ConnectorException as exc:
        # Procrastinate wraps the driver's error, whose message may name the server and user.
        cause = type(exc.__cause__).__name__ if exc.__cause__ else type(exc).__name__
        raise ConnectorError(f"the job queue's database failed: {cause}") from None
    finally:
        desk.close()
