"""The in-process runner: one background thread inside ``covenant serve``.

The embedded default (SQLite) has no job queue to share between machines and
needs none: one service process owns the database. Approved requests are run
one at a time, in the order they became due, by a single thread, so two
fulfilments never compete for SQLite's one writer.

Durable by construction, without a table of its own: what is queued here is
lost when the process stops, but the request row is not. A request waiting
for fulfilment stays ``in_progress`` in Covenant's own database until
``Desk.fulfil`` completes it, so every :meth:`InProcessQueue.start` re-defers
what ``pending`` (``Desk.pending_fulfilment``) lists, and nothing approved
before a crash or a restart is forgotten.

A failed run is retried after a doubling pause (``first_wait``, then twice
that, up to ``max_wait``), ``attempts`` times in all; after that the request
stays ``in_progress`` and the next start tries again. Failures are logged by
type only (:func:`covenant.jobs.failure.describe`), never with the message or
traceback, which may quote personal data.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from covenant.jobs import check_request_id
from covenant.jobs.failure import backoff, describe

logger = logging.getLogger(__name__)


class InProcessQueue:
    """Runs ``run(request_id)`` on one background thread, deduplicated and retried."""

    def __init__(
        self,
        run: Callable[[str], None],
        *,
        pending: Callable[[], list[str]] | None = None,
        attempts: int = 5,
        first_wait: float = 1.0,
        max_wait: float = 60.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._run = run
        self._pending = pending
        self._attempts = attempts
        self._first_wait = first_wait
        self._max_wait = max_wait
        self._cond = threading.Condition()
        # (due, tie-breaker, request id, attempt): a heap, soonest first.
        self._due: list[tuple[float, int, str, int]] = []
        self._waiting: set[str] = set()
        self._busy = False
        self._order = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def defer_fulfilment(self, request_id: str) -> None:
        """Queue ``request_id``; one already waiting (not yet running) is not queued again.

        A request that is running right now is queued again: ``Desk.fulfil``
        does nothing for a request that is already final, and the second run
        covers a change that landed after the first one read the request.
        """
        check_request_id(request_id)
        with self._cond:
            if request_id not in self._waiting:
                self._push(request_id, attempt=0, due=time.monotonic())

    def start(self) -> None:
        """Start the worker thread, then queue every request ``pending()`` names."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._work, name="covenant-fulfilment", daemon=True
            )
            self._thread.start()
        for request_id in self._pending() if self._pending else ():
            self.defer_fulfilment(request_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the run in progress, if any; what still waits is dropped.

        Dropping is safe: those requests are still ``in_progress`` and the
        next start re-defers them. A run that outlasts ``timeout`` is left to
        finish on its daemon thread, or to be cut off with the process.
        """
        with self._cond:
            self._stopping = True
            self._due.clear()
            self._waiting.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is running or due; ``False`` if ``timeout`` passed first.

        Retries scheduled for later count as due: the queue is idle only
        when every request deferred so far has succeeded or given up.
        """
        with self._cond:
            return self._cond.wait_for(lambda: not self._due and not self._busy, timeout)

    def _push(self, request_id: str, *, attempt: int, due: float) -> None:
        heapq.heappush(self._due, (due, next(self._order), request_id, attempt))
        self._waiting.add(request_id)
        self._cond.notify_all()

    def _next(self) -> tuple[str, int] | None:
        """The next request whose time has come, waiting for it; ``None`` once stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    _, _, request_id, attempt = heapq.heappop(self._due)
                    self._waiting.discard(request_id)
                    self._busy = True
                    return request_id, attempt
                self._cond.wait(self._due[0][0] - now if self._due else None)
            return None

    def _work(self) -> None:
        while (item := self._next()) is not None:
            request_id, attempt = item
            try:
                self._run(request_id)
            except Exception as exc:
                self._failed(request_id, attempt, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _failed(self, request_id: str, attempt: int, exc: Exception) -> None:
        failure = describe(exc)
        extra = {"request_id": request_id, "attempt": attempt + 1, "error": failure}
        if attempt + 1 >= self._attempts:
            logger.error(
                "fulfilment of %s failed %d times (%s); it stays in progress until the next start",
                request_id,
                attempt + 1,
                failure,
                extra={"action": "fulfilment_gave_up", **extra},
            )
            return
        wait = backoff(attempt, first=self._first_wait, cap=self._max_wait)
        logger.warning(
            "fulfilment of %s failed (%s); retrying in %.1f s",
            request_id,
            failure,
            wait,
            extra={"action": "fulfilment_retry", **extra},
        )
        with self._cond:
            # Deferred again while it ran: that fresh entry is the retry.
            if request_id not in self._waiting and not self._stopping:
                self._push(request_id, attempt=attempt + 1, due=time.monotonic() + wait)
