"""The states a request moves through, and which moves are allowed. Pure code.

A request is received, waits for the requester to prove who they are, is
verified, is fulfilled, and ends completed, denied or cancelled. Every move is
a :class:`Transition` that names who made it and why, so the audit trail and
the CCPA §7101 record (request date, nature, manner, response date, nature of
the response, basis of any denial) can be derived from the moves alone.

Never performs I/O and never reads the clock: callers pass ``at``.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from covenant.errors import CovenantError


class State(enum.StrEnum):
    RECEIVED = "received"
    AWAITING_VERIFICATION = "awaiting_verification"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DENIED = "denied"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({State.COMPLETED, State.DENIED, State.CANCELLED})


class Kind(enum.StrEnum):
    """What the person asks for (CCPA §1798.100-.125; GDPR Art. 15-17, 20, 21)."""

    KNOW_CATEGORIES = "know_categories"
    KNOW_SPECIFIC = "know_specific"
    ACCESS = "access"
    DELETE = "delete"
    CORRECT = "correct"
    OPT_OUT_SALE = "opt_out_sale"
    OPT_OUT_MARKETING = "opt_out_marketing"

    @property
    def is_opt_out(self) -> bool:
        return self in (Kind.OPT_OUT_SALE, Kind.OPT_OUT_MARKETING)

    @property
    def needs_verification(self) -> bool:
        # Opt-outs need no verification (Cal. Code Regs. tit. 11 §7026(d)).
        return not self.is_opt_out


class Channel(enum.StrEnum):
    """How the request arrived: the "manner" of CCPA §7101(a)."""

    WEB = "web"
    API = "api"
    EMAIL = "email"
    PHONE = "phone"
    POST = "post"


class DenialReason(enum.StrEnum):
    """The bases of denial staff choose from; each is shown to the requester."""

    UNVERIFIED = "unverified"
    """Identity could not be verified (CCPA §7022(e), seed P18)."""
    NO_AGENT_AUTHORITY = "no_agent_authority"
    """The agent's permission could not be confirmed (§7063)."""
    EXEMPT_RETENTION = "exempt_retention"
    """A law requires keeping the data (§1798.105(d))."""
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded"
    """Manifestly unfounded or excessive (GDPR Art. 12(5))."""
    TOO_MANY = "too_many"
    """More than twice in 12 months for access (§1798.130(b))."""
    MINOR = "minor"
    """A known minor's request that needs a parent's (§1798.120(c))."""


ALLOWED: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset(
        {State.AWAITING_VERIFICATION, State.VERIFIED, State.DENIED, State.CANCELLED}
    ),
    State.AWAITING_VERIFICATION: frozenset({State.VERIFIED, State.DENIED, State.CANCELLED}),
    State.VERIFIED: frozenset({State.IN_PROGRESS, State.DENIED, State.CANCELLED}),
    State.IN_PROGRESS: frozenset({State.COMPLETED, State.VERIFIED, State.DENIED}),
    State.COMPLETED: frozenset(),
    State.DENIED: frozenset(),
    State.CANCELLED: frozenset(),
}
"""In progress may fall back to verified: a fulfilment job that failed is retried."""


class TransitionRefused(CovenantError):
    """This request cannot move to that state."""

    status = 409


@dataclass(frozen=True, slots=True)
class Transition:
    source: State
    target: State
    at: dt.datetime
    actor: str
    """``consumer``, ``agent``, ``system`` or ``staff:<id>``."""
    reason: DenialReason | None = None
    note: str = ""


def move(
    current: State,
    target: State,
    *,
    kind: Kind,
    at: dt.datetime,
    actor: str,
    reason: DenialReason | None = None,
    note: str = "",
) -> Transition:
    """Check one move and describe it; raise :class:`TransitionRefused` when not allowed."""
    if at.tzinfo is None:
        raise ValueError("transition times must be timezone-aware")
    if target not in ALLOWED[current]:
        raise TransitionRefused(f"a {current.value} request cannot become {target.value}")
    if target is State.DENIED and reason is None:
        raise TransitionRefused("a denial needs its reason, which the requester is told")
    if target is not State.DENIED and reason is not None:
        raise TransitionRefused("only a denial carries a denial reason")
    skips_check = current is State.RECEIVED and target is State.VERIFIED
    if skips_check and kind.needs_verification and not actor.startswith("staff:"):
        raise TransitionRefused("only staff may verify a request without the verification step")
    return Transition(current, target, at, actor, reason, note)
