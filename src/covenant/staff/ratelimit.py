"""A token bucket per client address, in memory: the sign-in page's rate limit. Pure.

Account lockout stops guessing one account's password; this stops one
address trying many accounts (password spraying) or flooding the audit
trail with failures (OWASP Authentication Cheat Sheet, "Protect Against
Automated Attacks"). Each address may make ``capacity`` attempts at once and
then one every ``1 / per_second`` seconds.

In memory, so per process: behind several processes the real limit is that
many times higher, which still bounds a single address. At most
``max_clients`` addresses are tracked; the one seen least recently is
forgotten first, which hands it a full bucket again.

Never reads the clock: callers pass ``now`` (monotonic seconds).
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class TokenBucket:
    def __init__(
        self, *, capacity: float = 10, per_second: float = 10 / 60, max_clients: int = 10_000
    ) -> None:
        if capacity < 1 or per_second <= 0 or max_clients < 1:
            raise ValueError("capacity >= 1, per_second > 0 and max_clients >= 1")
        self.capacity = capacity
        self.per_second = per_second
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str, *, now: float) -> float:
        """Take one token for ``client``: 0.0 if it had one, else seconds until it will."""
        with self._lock:
            tokens, then = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.per_second)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.per_second
            if wait == 0.0:
                tokens -= 1
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait
