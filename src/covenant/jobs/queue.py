"""The procrastinate queue in Covenant's own PostgreSQL database.

One task, ``covenant.fulfil`` on the ``fulfilment`` queue, runs
``Desk.fulfil(request_id)`` in a ``covenant worker`` process. Every job for a
request carries the request id as both

- its *queueing lock*: procrastinate keeps at most one waiting (``todo``) job
  per queueing lock, so deferring a request that is already queued is a no-op;
- its *lock*: no two jobs with the same lock run at the same time, so a request
  deferred again while it runs waits for the first run to end.

A failed run is retried with procrastinate's exponential backoff (2, 4, 8, 16,
32, 64 s), then left ``failed``; the request stays ``in_progress`` and the next
worker start defers it again (see :mod:`covenant.jobs.recovery`).

The task never logs an exception's message: a failure is re-raised as
:class:`~covenant.jobs.failure.FulfilmentFailed` naming only the error's
type, because procrastinate logs what a task raises, and a database error can
quote a person's row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import procrastinate
import psycopg
import sqlalchemy as sa
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.job_context import JobContext
from procrastinate.jobs import JobDeferrer
from procrastinate.schema import SchemaManager
from psycopg.conninfo import make_conninfo

from covenant.jobs import JobsMisconfigured, check_request_id
from covenant.jobs.failure import FulfilmentFailed, describe

logger = logging.getLogger(__name__)

QUEUE = "fulfilment"
TASK = "covenant.fulfil"
FULFIL = "covenant.fulfil"
"""The key of the worker's ``additional_context`` that holds ``Desk.fulfil``."""

RETRY = procrastinate.RetryStrategy(max_attempts=6, exponential_wait=2)
# An arbitrary constant: serializes concurrent `covenant db upgrade` runs.
_SCHEMA_LOCK = 0x636F76656E616E74


def conninfo(url: str | sa.URL) -> str:
    """A libpq connection string for a SQLAlchemy URL (``postgresql+psycopg://...``).

    Query parameters (``sslmode``, ``host`` for a Unix socket) carry over.
    The URL may hold a password, so an error never repeats it.
    """
    try:
        parsed = sa.make_url(url) if isinstance(url, str) else url
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise JobsMisconfigured("COVENANT_DATABASE_URL is not a valid database URL") from None
    if parsed.get_backend_name() != "postgresql":
        raise JobsMisconfigured(
            f"the job queue needs PostgreSQL, not {parsed.get_backend_name()}; "
            "the in-process runner in covenant serve handles jobs on SQLite"
        )
    params: dict[str, str] = {
        key: str(value)
        for key, value in {
            "host": parsed.host,
            "port": parsed.port,
            "dbname": parsed.database,
            "user": parsed.username,
            "password": parsed.password,
        }.items()
        if value is not None
    }
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return make_conninfo("", **params)


def make_app(conninfo: str, *, max_connections: int = 4) -> procrastinate.App:
    """A procrastinate app on ``conninfo`` with Covenant's one task registered.

    Not opened: :class:`ProcrastinateQueue` opens it for deferring, and
    :func:`covenant.jobs.worker.work` for working.
    """
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo, min_size=1, max_size=max(2, max_connections)
    )
    app = procrastinate.App(connector=connector)
    app.task(name=TASK, queue=QUEUE, pass_context=True, retry=RETRY)(_fulfil)
    return app


def _fulfil(context: JobContext, request_id: str) -> None:
    run: Callable[[str], None] | None = context.additional_context.get(FULFIL)
    if run is None:
        raise FulfilmentFailed("this worker was started without a desk to fulfil requests with")
    try:
        run(check_request_id(request_id))
    except Exception as exc:
        # `from None`: the original, whose message may quote personal data,
        # must not reach procrastinate's log of the job's outcome.
        raise FulfilmentFailed(f"fulfilling {request_id} failed: {describe(exc)}") from None


def deferrer(app: procrastinate.App, request_id: str) -> JobDeferrer:
    """The deferrer of the job that fulfils ``request_id``, with its locks set."""
    check_request_id(request_id)
    return app.configure_task(TASK, allow_unknown=False, queueing_lock=request_id, lock=request_id)


class ProcrastinateQueue:
    """Defers fulfilment jobs for ``covenant worker`` processes to run."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    def defer_fulfilment(self, request_id: str) -> None:
        """Queue the request's job; one already waiting for a worker is not an error."""
        job = deferrer(self.app, request_id)
        try:
            job.defer(request_id=request_id)
        except AlreadyEnqueued:
            logger.debug(
                "request %s is already queued",
                request_id,
                extra={"action": "fulfilment_already_queued", "request_id": request_id},
            )

    def start(self) -> None:
        self.app.open()

    def stop(self) -> None:
        self.app.close()


def ensure_schema(conninfo: str) -> bool:
    """Create procrastinate's tables in the database once; ``True`` if they were created now.

    Idempotent: a database that already has ``procrastinate_jobs`` is left
    as it is. Concurrent callers are serialized by an advisory lock, so two
    ``covenant db upgrade`` runs never both apply it. Upgrading procrastinate
    itself later may need its own migrations (``procrastinate schema
    --migrations-path``), as its release notes say.
    """
    schema = SchemaManager.get_schema()
    try:
        with psycopg.connect(conninfo) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
            if row is not None and row[0]:
                return False
            conn.execute(schema)
            return True
    except psycopg.Error as exc:
        raise JobsMisconfigured(
            f"could not set up the job queue's tables: {type(exc).__name__}"
        ) from None
