"""A request body from the store's backend, checked. Pure.

The fields are the privacy center's (:func:`covenant.desk.intake.parse`,
which reports every problem at once) plus ``account_token``: a token the
store's login signed for the account holder (CCPA regs §7061(a)), read with
:func:`covenant.requests.verification.read_token`. Every problem is found
before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from covenant.api.errors import Unprocessable
from covenant.desk.intake import Submission, SubmissionRefused, parse
from covenant.requests.verification import (
    MAX_TOKEN_CHARS,
    AccountToken,
    TokenRefused,
    read_token,
)

ACCOUNT_TOKEN = "account_token"  # noqa: S105 -- a field's name, not a secret
AGENT_SIGN_IN = "An agent's request cannot carry the consumer's sign-in."


@dataclass(frozen=True, slots=True)
class Intake:
    submission: Submission
    account: AccountToken | None
    """Set when a good account token came with a request that needs verifying."""


def read_request(
    data: dict[str, Any], *, account_key: bytes, now: dt.datetime, correctable: Collection[str]
) -> Intake:
    """The submission and the account holder it is verified for; every problem at once."""
    fields = dict(data)
    token = fields.pop(ACCOUNT_TOKEN, None)
    problems: dict[str, str] = {}
    submission: Submission | None = None
    try:
        submission = parse(fields)
    except SubmissionRefused as exc:
        problems.update(exc.problems)
    account = None
    if token is not None:
        account, problem = _account(token, key=account_key, now=now)
        if not problem and fields.get("agent_email"):
            # The token proves the account holder signed in; an agent filing
            # for them is someone else, whose authority §7063 checks instead.
            problem = AGENT_SIGN_IN
        if problem:
            problems[ACCOUNT_TOKEN] = problem
    if submission is not None and submission.corrections:
        unknown = set(submission.corrections) - set(correctable)
        if unknown:
            problems["corrections"] = (
                "Name fields that can be corrected, as dataset.collection.field"
                " (contact and name details)."
            )
    if problems or submission is None:
        raise Unprocessable(problems)
    needs = submission.kind.needs_verification
    return Intake(submission, account if needs else None)


def _account(token: object, *, key: bytes, now: dt.datetime) -> tuple[AccountToken | None, str]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        return None, "Send the token from the store's login as a string."
    try:
        return read_token(token, key=key, now=now), ""
    except TokenRefused as exc:
        # One message whatever went wrong (tampered, expired, stale), as read_token intends.
        return None, exc.message
