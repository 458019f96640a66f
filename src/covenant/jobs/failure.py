"""What a log may say about a failed fulfilment, and the backoff before the next try. Pure.

A failure is described by its type, plus the fixed default message of a
:class:`~covenant.errors.CovenantError` subclass. Never by ``str(exc)``: a
database error can quote the row it choked on (``Key (email)=(ana@...)``), a
correction error the value it refused, and logs travel further than the
database does.
"""

from __future__ import annotations

from covenant.errors import CovenantError


class FulfilmentFailed(CovenantError):
    """Fulfilling the request failed; it stays in progress and will be retried."""


def describe(exc: BaseException) -> str:
    """``exc`` as a log line that holds no personal data."""
    name = type(exc).__name__
    if isinstance(exc, CovenantError):
        default = (type(exc).__doc__ or "").strip().splitlines()
        if default:
            return f"{name}: {default[0]}"
    return name


def backoff(attempt: int, *, first: float, cap: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (0-based): doubling, capped."""
    if attempt < 0:
        raise ValueError("attempt counts from 0")
    return float(min(cap, first * 2**attempt))
