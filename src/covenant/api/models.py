"""The request API's bodies as pydantic models: what it reads and what it answers.

The OpenAPI document's schemas are generated from these
(:mod:`covenant.api.openapi`), so the document and the code cannot disagree.
The consent API's answers are described here too (that API builds its JSON
by hand); a test reads its real answers through these models.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from covenant.desk.intake import Submission
from covenant.requests.lifecycle import DenialReason, Kind, State
from covenant.requests.verification import MAX_TOKEN_CHARS


class RequestIn(Submission):
    """A privacy request, as the store's backend submits it."""

    account_token: str | None = Field(
        default=None,
        max_length=MAX_TOKEN_CHARS,
        description=(
            "A token from the store's login, signed with the key `covenant token account-key`"
            " prints, made at most 15 minutes ago: the account holder is then verified by"
            " their sign-in instead of an e-mailed code (CCPA regs §7061(a))."
        ),
    )


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class RequestCreated(Out):
    id: str
    state: State
    status_url: str = Field(
        description="The requester's own status page: show or send it to them, never log it."
    )
    respond_by: dt.datetime | None = Field(description="The legal deadline for the answer.")


class RequestStatus(Out):
    id: str
    kind: Kind
    state: State
    received_at: dt.datetime
    respond_by: dt.datetime | None
    responded_at: dt.datetime | None
    denial_reason: DenialReason | None
    next_step: str = Field(
        description=(
            "What happens next: `code` (the requester confirms the e-mailed code),"
            " `points` (they give details that match the store's records), `agent`"
            " (the agent's authority is awaited), `wait` (the store is working on it),"
            " `done`."
        )
    )


class ErrorOut(Out):
    error: str


class ProblemsOut(Out):
    error: str
    problems: dict[str, str] = Field(description="Each field with a problem, and what is wrong.")


# --- The consent API's answers (covenant.consent.web) ------------------------------


class RecordedChoice(Out):
    seq: int
    at: dt.datetime
    topic: str
    choice: str | None
    method: str


class ConsentRecorded(Out):
    recorded: list[RecordedChoice]
    gpc_honoured: bool


class ConsentWritten(Out):
    seq: int
    at: dt.datetime


class ConsentDecision(Out):
    allowed: bool
    basis: str
    reason: str
    record: int | None
    topic: str | None
    jurisdiction: str
