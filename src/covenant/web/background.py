"""A chore run every few seconds on a thread of its own, for the service's lifespan.

A failing chore is logged and tried again on the next tick: a mail server
that is down for a minute must not stop the service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, chore: Callable[[], object], *, every: float) -> None:
        self.chore = chore
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="covenant-chores", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.chore()
            except Exception as exc:  # logged without detail that could hold personal data
                log.warning("background chore failed: %s", type(exc).__name__)
