"""Fulfilment jobs: running approved requests in the background, exactly once.

Covenant's own database is the record of what must run: a request in
``in_progress`` still needs fulfilling, whatever happened to the job that was
meant to do it. A queue only decides *when* and *where* ``Desk.fulfil`` runs;
losing a queued job never loses a request, because the request row still says
``in_progress`` and recovery defers it again (see docs/jobs.md).

Two queues implement :class:`JobQueue`:

- :class:`~covenant.jobs.inprocess.InProcessQueue`, one worker thread inside
  ``covenant serve``: the embedded default on SQLite, nothing else to run.
- :class:`~covenant.jobs.queue.ProcrastinateQueue`, a procrastinate queue in
  Covenant's own PostgreSQL database, worked by ``covenant worker`` processes
  on any number of machines.

This module never imports procrastinate unless the PostgreSQL queue is chosen.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

from covenant.db import state_url
from covenant.errors import CovenantError
from covenant.settings import Settings


class JobQueue(Protocol):
    """Where the desk hands an approved request to be fulfilled.

    ``start`` and ``stop`` belong to whoever owns the process (the service's
    lifespan): the in-process queue starts and stops its thread, the
    procrastinate queue opens and closes its connection pool.
    """

    def defer_fulfilment(self, request_id: str) -> None:
        """Have the request fulfilled soon; a request already waiting is not queued twice."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class JobsMisconfigured(CovenantError):
    """The job queue cannot run with this configuration."""

    exit_code = 2


class NotARequestId(CovenantError):
    """A fulfilment job names something that is not a request id."""

    status = 400


def check_request_id(request_id: str) -> str:
    """``request_id`` if it is a request id (a UUID, as the request store makes them).

    Checked before anything is queued, so a malformed or hostile value never
    becomes a job, a queueing lock or a log line.
    """
    if not isinstance(request_id, str) or len(request_id) != 36:
        raise NotARequestId()
    try:
        canonical = str(uuid.UUID(request_id))
    except ValueError:
        raise NotARequestId() from None
    if canonical != request_id:
        raise NotARequestId()
    return request_id


def uses_postgresql(settings: Settings) -> bool:
    """Whether Covenant's own database, as configured, is PostgreSQL."""
    raw = settings.database_url.get_secret_value() if settings.database_url else None
    url = state_url(raw, settings.config.resolve().parent)
    return url.get_backend_name() == "postgresql"


def queue_for(
    settings: Settings,
    run: Callable[[str], None],
    *,
    pending: Callable[[], list[str]] | None = None,
) -> JobQueue:
    """The queue ``settings.jobs`` asks for, not yet started.

    ``auto`` is the procrastinate queue when Covenant's own database is
    PostgreSQL, and the in-process runner otherwise. ``run`` is what the
    in-process runner calls (``Desk.fulfil``), and ``pending``
    (``Desk.pending_fulfilment``) what it re-queues at every start.
    Procrastinate workers build their own desk and recover on their own
    (:mod:`covenant.jobs.recovery`), so the PostgreSQL queue only defers.
    """
    choice = settings.jobs
    if choice == "auto":
        choice = "procrastinate" if uses_postgresql(settings) else "inprocess"
    if choice == "inprocess":
        from covenant.jobs.inprocess import InProcessQueue

        return InProcessQueue(run, pending=pending)
    if not uses_postgresql(settings):
        raise JobsMisconfigured(
            "COVENANT_JOBS=procrastinate needs Covenant's own database on PostgreSQL "
            "(COVENANT_DATABASE_URL); on SQLite, use the in-process runner (COVENANT_JOBS=auto)"
        )
    from covenant.jobs.queue import ProcrastinateQueue, conninfo, make_app

    assert settings.database_url is not None  # uses_postgresql said so
    return ProcrastinateQueue(make_app(conninfo(settings.database_url.get_secret_value())))
