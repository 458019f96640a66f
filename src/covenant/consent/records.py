"""What a consent record is: the vocabulary shared by the ledger, decisions and receipts.

Owns the record types and the checks every record must pass before it is
written (topic syntax, jurisdiction syntax, small evidence without obvious
personal data). Pure: it never reads or writes a database and never decides
whether a use is allowed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from covenant.errors import CovenantError


class ConsentError(CovenantError):
    """The consent record or question is not valid."""

    exit_code = 2
    status = 400


class Kind(StrEnum):
    CHOICE = "choice"
    """A person's or device's choice about one topic."""
    LINK = "link"
    """A device was tied to a person when they signed in or were verified."""
    MINOR = "minor"
    """The person or device is known to be under the declaration's minimum age."""


class Choice(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    """A grant taken back; as easy as giving it, and as binding (GDPR Art. 7(3))."""


class Method(StrEnum):
    BANNER = "banner"
    FORM = "form"
    SIGN_UP = "sign_up"
    SIGN_IN = "sign_in"
    VERIFICATION = "verification"
    CONTEST = "contest"
    """A contest or survey entry that asks for marketing permission (seed H11)."""
    GPC = "gpc"
    """Recorded from a Global Privacy Control signal, not a click."""
    STAFF = "staff"
    API = "api"


TopicKind = Literal["purpose", "category"]
TRACKER_CATEGORIES = ("strictly_necessary", "functional", "analytics", "advertising")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_JURISDICTION = re.compile(r"^[a-z]{2}(-[a-z0-9]{1,3})?$")
REF_MAX = 128
CONSENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
"""A device's consent ID: opaque, random, URL-safe; never derived from the person."""


@dataclass(frozen=True, slots=True, order=True)
class Topic:
    """What a choice is about: a declared purpose, or a tracker category."""

    kind: TopicKind
    key: str

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ConsentError(f"{self.key!r} is not a key (lower-case letters, digits, _)")
        if self.kind == "category" and self.key not in TRACKER_CATEGORIES:
            raise ConsentError(
                f"{self.key!r} is not a tracker category: one of {', '.join(TRACKER_CATEGORIES)}"
            )

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"

    @classmethod
    def parse(cls, text: str) -> Topic:
        kind, _, key = text.partition(":")
        if kind not in ("purpose", "category"):
            raise ConsentError(f"{text!r} is not a topic: write purpose:<key> or category:<key>")
        return cls(kind, key)  # type: ignore[arg-type]


def jurisdiction(value: str) -> str:
    """A jurisdiction code, lower case: ``eu``, ``us``, ``us-ca``."""
    value = value.strip().lower()
    if not _JURISDICTION.match(value):
        raise ConsentError(f"{value!r} is not a jurisdiction code such as eu, us or us-ca")
    return value


EVIDENCE_MAX = 2048
Scalar = str | int | float | bool | None
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def evidence(value: dict[str, Scalar]) -> str:
    """``value`` as the canonical JSON the ledger stores, after the checks below.

    Evidence proves *how* a choice was made (notice shown, button, page), not
    *who* made it: who is the record's opaque reference. A flat object of
    scalars, at most 2 KiB. Values that look like an e-mail or IP address are
    refused: a cheap guard against raw personal data entering an append-only
    table, which could then never be erased.
    """
    for key, item in value.items():
        if not _KEY.match(key):
            raise ConsentError(
                f"evidence key {key!r} must be a key (lower-case letters, digits, _)"
            )
        if not isinstance(item, str | int | float | bool | type(None)):
            raise ConsentError("evidence values must be strings, numbers, booleans or null")
        if isinstance(item, str) and _looks_personal(item):
            raise ConsentError(
                f"evidence {key!r} looks like an e-mail or IP address; "
                "evidence must not hold personal data"
            )
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode("utf-8")) > EVIDENCE_MAX:
        raise ConsentError(f"evidence is larger than {EVIDENCE_MAX} bytes")
    return text


def _looks_personal(text: str) -> bool:
    if _EMAIL.search(text):
        return True
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Draft:
    """A record not yet written. Build through :func:`choice`, :func:`link` or :func:`minor`."""

    kind: Kind
    method: Method
    jurisdiction: str
    subject_ref: str | None = None
    consent_id: str | None = None
    topic: Topic | None = None
    choice: Choice | None = None
    notice_version: str = ""
    evidence: str = "{}"

    def __post_init__(self) -> None:
        if self.subject_ref is None and self.consent_id is None:
            raise ConsentError("a consent record needs a subject, a consent ID, or both")
        if self.subject_ref is not None and not 0 < len(self.subject_ref) <= REF_MAX:
            raise ConsentError(f"a subject reference is 1 to {REF_MAX} characters")
        if self.consent_id is not None and not CONSENT_ID.match(self.consent_id):
            raise ConsentError("a consent ID is 8 to 64 letters, digits, '-' or '_'")
        if (self.kind is Kind.CHOICE) != (self.topic is not None and self.choice is not None):
            raise ConsentError("a choice record, and only a choice record, has a topic and choice")
        if self.kind is Kind.LINK and (self.subject_ref is None or self.consent_id is None):
            raise ConsentError("a link record ties a consent ID to a subject: it needs both")
        if len(self.notice_version) > 64:
            raise ConsentError("a notice version is at most 64 characters")


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """A record as written: a draft plus its place in the ledger and its time."""

    seq: int
    at: dt.datetime
    draft: Draft

    @property
    def kind(self) -> Kind:
        return self.draft.kind

    @property
    def topic(self) -> Topic | None:
        return self.draft.topic

    @property
    def choice(self) -> Choice | None:
        return self.draft.choice

    @property
    def order(self) -> tuple[dt.datetime, int]:
        """Newer records sort later: by time, then by the order they were written."""
        return (self.at, self.seq)
