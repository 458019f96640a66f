"""Recovery for the procrastinate queue: jobs whose worker died, requests without a job.

Two ways a request that must be fulfilled can end up with no worker on it:

- *Its worker died* (``kill -9``, a lost machine) while the job was
  ``doing``. Procrastinate 3 records a heartbeat per worker; a ``doing`` job
  whose worker has not beaten for ``stalled_after`` seconds is stalled, and
  :func:`retry_stalled` puts it back to ``todo`` for another worker. The dead
  worker's database transactions died with its connections, so the store
  databases are as they were before it started (each erasure commits per
  database, all or nothing), or already changed, which the next run's
  idempotent ``Desk.fulfil`` proves and completes.
- *It never got a job*: the desk committed the approval, then crashed before
  deferring. :func:`requeue_orphans` defers every ``in_progress`` request
  that has no job.

Both run when a worker starts and then every few seconds (:func:`sweep`).
At start, a request whose last job *failed* (retries used up) also gets a
fresh job, as a restart of the in-process runner does; between starts it is
left failed, so a request that cannot succeed does not loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from procrastinate.jobs import Status

from covenant.jobs.failure import describe
from covenant.jobs.queue import QUEUE, TASK, deferrer

logger = logging.getLogger(__name__)

LIVE = (Status.TODO, Status.DOING)
ANY = tuple(Status)

_JOBS_FOR = """
SELECT DISTINCT queueing_lock FROM procrastinate_jobs
 WHERE task_name = %(task)s
   AND queueing_lock = ANY(%(ids)s::varchar[])
   AND status = ANY(%(statuses)s::procrastinate_job_status[])
"""


async def retry_stalled(app: procrastinate.App, *, stalled_after: float) -> list[int]:
    """Put back to ``todo`` the fulfilment jobs of workers silent for ``stalled_after`` s."""
    stalled = await app.job_manager.get_stalled_jobs(
        queue=QUEUE, task_name=TASK, seconds_since_heartbeat=stalled_after
    )
    retried = []
    for job in stalled:
        assert job.id is not None
        try:
            await app.job_manager.retry_job(job)
        except UniqueViolation:
            # The request was deferred again meanwhile: that waiting job will
            # run it. This one is closed, not run twice.
            await app.job_manager.finish_job_by_id_async(
                job_id=job.id, status=Status.ABORTED, delete_job=False
            )
            continue
        retried.append(job.id)
        logger.warning(
            "job %d of a stalled worker goes back to the queue",
            job.id,
            extra={"action": "stalled_job_retried", "job_id": job.id, "request_id": job.lock},
        )
    return retried


async def requeue_orphans(
    app: procrastinate.App, pending: Iterable[str], *, counted: Iterable[Status]
) -> list[str]:
    """Defer each of ``pending`` that has no job in one of the ``counted`` states."""
    ids = list(pending)
    if not ids:
        return []
    rows = await app.connector.execute_query_all_async(
        _JOBS_FOR, task=TASK, ids=ids, statuses=[s.value for s in counted]
    )
    covered = {row["queueing_lock"] for row in rows}
    deferred = []
    for request_id in ids:
        if request_id in covered:
            continue
        try:
            await deferrer(app, request_id).defer_async(request_id=request_id)
        except AlreadyEnqueued:
            continue  # the desk deferred it between our two reads
        deferred.append(request_id)
    if deferred:
        logger.warning(
            "%d in-progress requests had no job and were queued",
            len(deferred),
            extra={"action": "orphans_requeued", "count": len(deferred)},
        )
    return deferred


async def recover(
    app: procrastinate.App,
    pending: Callable[[], list[str]],
    *,
    stalled_after: float,
    counted: Iterable[Status],
) -> None:
    """One pass of both recoveries. ``pending`` is ``Desk.pending_fulfilment`` (blocking)."""
    await retry_stalled(app, stalled_after=stalled_after)
    await requeue_orphans(app, await asyncio.to_thread(pending), counted=counted)


async def sweep(
    app: procrastinate.App,
    pending: Callable[[], list[str]],
    *,
    stalled_after: float,
    every: float,
) -> None:
    """Recover every ``every`` seconds until cancelled; a failed pass is logged and retried."""
    while True:
        await asyncio.sleep(every)
        try:
            await recover(app, pending, stalled_after=stalled_after, counted=ANY)
        except Exception as exc:
            logger.warning(
                "recovery pass failed (%s)",
                describe(exc),
                extra={"action": "recovery_failed", "error": describe(exc)},
            )
