"""When a message that could not be sent is tried again. Pure: ``now`` is a parameter.

Exponential backoff, as RFC 5321 §4.5.4.1 asks of a sender (retry after a
temporary failure, waiting longer each time, and give up after days rather
than forever): 1, 2, 4, 8 ... minutes, capped, for at most ``max_attempts``
tries in all. A verification code dies within 30 minutes, so late retries
matter for receipts and completions, not codes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    """Tries in all, the first included; then the message is ``failed``."""
    first_wait: dt.timedelta = dt.timedelta(minutes=1)
    longest_wait: dt.timedelta = dt.timedelta(hours=2)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("a message is tried at least once")
        if self.first_wait <= dt.timedelta(0) or self.longest_wait < self.first_wait:
            raise ValueError("waits must be positive, the longest at least the first")

    def next_attempt(self, attempts: int, now: dt.datetime) -> dt.datetime | None:
        """When to try again after ``attempts`` failed tries; None: give up."""
        if attempts >= self.max_attempts:
            return None
        # Cap the exponent too: 2**attempts must not overflow timedelta arithmetic.
        wait = self.first_wait * (1 << min(max(attempts - 1, 0), 30))
        return now + min(wait, self.longest_wait)
