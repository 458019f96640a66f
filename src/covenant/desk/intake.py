"""What a requester submits, checked, and the sealed details kept beside a request. Pure.

:class:`Submission` is the privacy center's form (or the API's body) after
validation: every field bounded, e-mail addresses checked for shape only,
control characters refused. :class:`Details` is what the desk keeps for the
request, sealed in ``request_details``; it round-trips through JSON.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from covenant.errors import CovenantError
from covenant.requests.lifecycle import Kind

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
MAX_CORRECTIONS = 10
_FOR_A_CHILD = frozenset({Kind.ACCESS, Kind.KNOW_CATEGORIES, Kind.KNOW_SPECIFIC, Kind.DELETE})


class SubmissionRefused(CovenantError):
    """The request form has a problem."""

    status = 400

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


def _clean(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    return value


class Submission(BaseModel):
    """One request as submitted: by the person, their agent, the store's backend, or staff."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=2000)

    kind: Kind
    email: str = Field(max_length=320)
    """The consumer's e-mail: where their data is looked up, and (without an agent) where we write."""
    name: str = Field(default="", max_length=200)
    jurisdiction: str = Field(default="us-ca", pattern=r"^[a-z]{2}(-[a-z]{2})?$")
    agent_name: str = Field(default="", max_length=200)
    agent_email: str = Field(default="", max_length=320)
    declaration_signed: bool = False
    """The requester signed the declaration under penalty of perjury (CCPA regs §7062(c))."""
    corrections: dict[str, str] = {}
    """``dataset.collection.field`` -> the correct value, for a request to correct."""
    phone: str = Field(default="", max_length=40)
    about_minor: bool = False
    """A parent or guardian asks about a child under the declaration's minimum age (seed P12)."""

    @field_validator("email", "agent_email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = _clean(value).lower()
        if value and not EMAIL.match(value):
            raise ValueError("is not an e-mail address")
        return value

    @field_validator("name", "agent_name", "phone")
    @classmethod
    def _text(cls, value: str) -> str:
        return _clean(value)

    @field_validator("corrections")
    @classmethod
    def _corrections(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_CORRECTIONS:
            raise ValueError(f"at most {MAX_CORRECTIONS} corrections in one request")
        return {_clean(k): _clean(v) for k, v in value.items()}

    @property
    def by_agent(self) -> bool:
        return bool(self.agent_email)

    @property
    def contact(self) -> str:
        """Where the desk writes: the agent when an agent files, else the consumer."""
        return self.agent_email or self.email


def parse(data: dict[str, Any]) -> Submission:
    """A :class:`Submission` from form or JSON data, or every problem at once."""
    try:
        submission = Submission.model_validate(data)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else "form"
            problems.setdefault(key, _plain(error))
        raise SubmissionRefused(problems) from None
    problems = {}
    if not submission.email:
        problems["email"] = "Enter the e-mail address the store knows you by."
    if submission.kind is Kind.CORRECT and not submission.corrections:
        problems["corrections"] = "Say what is wrong and what it should be."
    if submission.kind is not Kind.CORRECT and submission.corrections:
        problems["corrections"] = "Only a request to correct carries corrections."
    if submission.about_minor and submission.kind not in _FOR_A_CHILD:
        problems["about_minor"] = (
            "For a child's data, ask for a copy, the categories we hold, or deletion."
        )
    if submission.agent_name and not submission.agent_email:
        problems["agent_email"] = "An agent must give their own e-mail address."
    if problems:
        raise SubmissionRefused(problems)
    return submission


def _plain(error: Any) -> str:
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ")


@dataclass(frozen=True, slots=True)
class Details:
    """What the desk keeps, sealed, for one request."""

    email: str
    contact: str
    name: str = ""
    phone: str = ""
    agent_name: str = ""
    agent_email: str = ""
    declaration_signed: bool = False
    corrections: dict[str, str] = field(default_factory=dict)
    email_proven: bool = False
    points_attempts: int = 0
    matched: tuple[str, ...] = ()
    action_confirmed: bool = False
    """The requester confirmed the deletion after proving who they are (CCPA regs §7022(d))."""
    proven_by: str = ""
    """How they were verified, kept while the confirmation is awaited."""
    last_reason: str = ""
    """What the last data-points check told the requester (shown again on the status page)."""
    answer_as: str | None = None
    """Set when the request is answered as another kind (§7024(a): categories)."""
    agent_permission: bool = False
    consumer_confirmed: bool = False
    about_minor: bool = False
    """Asked by a parent or guardian about a child under the minimum age (seed P12)."""
    documents: tuple[dict[str, Any], ...] = ()
    """Files sent with the request (:mod:`covenant.desk.documents`), keys included."""

    @classmethod
    def from_submission(cls, s: Submission) -> Details:
        return cls(
            email=s.email,
            contact=s.contact,
            name=s.name,
            phone=s.phone,
            agent_name=s.agent_name,
            agent_email=s.agent_email,
            declaration_signed=s.declaration_signed,
            corrections=dict(s.corrections),
            about_minor=s.about_minor,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Details:
        data = json.loads(text)
        data["matched"] = tuple(data.get("matched", ()))
        data["documents"] = tuple(data.get("documents", ()))
        return cls(**data)

    def but(self, **changes: Any) -> Details:
        return replace(self, **changes)
