"""What each staff role may do in the console. Pure: no I/O, no database.

Three roles, each a superset of the one before (least privilege: give people
the smallest role their work needs):

- ``read_only`` views requests and their history;
- ``reviewer`` also verifies, approves, denies and extends requests, adds
  notes and completes manual tasks;
- ``admin`` also manages staff accounts.

:func:`require` is the one check a console handler makes. It reads the
signed-in session that :func:`covenant.staff.web.authorize` put on the
request, so a handler that forgot to load the session is refused (401), never
let through.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol

from covenant.errors import CovenantError

if TYPE_CHECKING:
    from covenant.staff.sessions import Session

STATE_KEY = "staff_session"
"""Where the loaded session sits on ``request.state``."""


class Role(enum.StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    READ_ONLY = "read_only"


class Action(enum.StrEnum):
    VIEW = "view"
    VERIFY = "verify"
    APPROVE = "approve"
    DENY = "deny"
    EXTEND = "extend"
    ADD_NOTE = "add_note"
    COMPLETE_TASK = "complete_task"
    """Mark a manual step done (a collection no connector reaches)."""
    MANAGE_STAFF = "manage_staff"


_READ = frozenset({Action.VIEW})
_REVIEW = _READ | {
    Action.VERIFY,
    Action.APPROVE,
    Action.DENY,
    Action.EXTEND,
    Action.ADD_NOTE,
    Action.COMPLETE_TASK,
}
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.READ_ONLY: _READ,
    Role.REVIEWER: _REVIEW,
    Role.ADMIN: _REVIEW | {Action.MANAGE_STAFF},
}


class NotSignedIn(CovenantError):
    """Sign in to the staff console first."""

    status = 401


class NotAllowed(CovenantError):
    """Your role does not allow this. Ask an administrator if you need it."""

    status = 403


def can(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]


class _HasState(Protocol):
    @property
    def state(self) -> object: ...


def require(request: _HasState, action: Action) -> Session:
    """The signed-in session on ``request`` if its role may do ``action``.

    Raises :class:`NotSignedIn` (401) when no session was loaded, and
    :class:`NotAllowed` (403) when the role does not allow the action.
    """
    session: Session | None = getattr(request.state, STATE_KEY, None)
    if session is None:
        raise NotSignedIn()
    if not can(session.role, action):
        raise NotAllowed()
    return session
