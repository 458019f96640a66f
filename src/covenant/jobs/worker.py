"""A ``covenant worker`` process: procrastinate's worker plus the recovery sweep.

Any number of these run, on any machines that reach Covenant's own
PostgreSQL database. Each builds its own desk and runs up to ``concurrency``
fulfilments at once, each in its own thread (``Desk.fulfil`` is blocking).

SIGTERM or SIGINT stops it gracefully: no new job is taken and the running
ones finish (procrastinate's signal handling). A worker killed outright is
covered by the others' recovery sweep (:mod:`covenant.jobs.recovery`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import procrastinate

from covenant.jobs import JobsMisconfigured
from covenant.jobs.queue import FULFIL, QUEUE
from covenant.jobs.recovery import LIVE, recover, sweep

_HAS_SCHEMA = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"

STALLED_AFTER = 30.0
"""Seconds without a heartbeat after which a worker counts as dead (procrastinate's default)."""


async def work(
    app: procrastinate.App,
    *,
    fulfil: Callable[[str], None],
    pending: Callable[[], list[str]],
    concurrency: int = 2,
    stalled_after: float = STALLED_AFTER,
    name: str | None = None,
    wait: bool = True,
) -> None:
    """Work the fulfilment queue until stopped (or, with ``wait=False``, until it is empty).

    A worker beats three times per ``stalled_after`` and sweeps as often, so a
    dead worker's job is back in the queue about ``stalled_after`` seconds
    after its last heartbeat. Too small a value makes a slow but living worker
    look dead; the job then runs twice, which ``Desk.fulfil`` tolerates.
    """
    beat = stalled_after / 3
    async with app.open_async():
        row = await app.connector.execute_query_one_async(_HAS_SCHEMA)
        if not row["present"]:
            raise JobsMisconfigured(
                "the job queue's tables are missing: run covenant db upgrade first"
            )
        await recover(app, pending, stalled_after=stalled_after, counted=LIVE)
        sweeper = asyncio.create_task(
            sweep(app, pending, stalled_after=stalled_after, every=beat), name="covenant-sweep"
        )
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                name=name or "covenant-worker",
                concurrency=concurrency,
                wait=wait,
                additional_context={FULFIL: fulfil},
                update_heartbeat_interval=beat,
                stalled_worker_timeout=stalled_after,
                delete_jobs="successful",
            )
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
