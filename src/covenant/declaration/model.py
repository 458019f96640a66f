"""The declaration's shape: what a store states about the personal data it keeps.

These models only describe and check shape. Cross-references (an unknown
category, a reference to a missing field, a cycle) are checked in
:mod:`covenant.declaration.validate`, which needs the whole declaration at once.
Datasets use fideslang's own ``Dataset`` model so a Fides dataset file loads
as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, get_args

from fideslang.models import Dataset
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KEY = r"^[a-z][a-z0-9_]*$"
Key = Annotated[str, Field(pattern=KEY, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvRef(Strict):
    """A value kept in an environment variable, so secrets never sit in the file."""

    env: str = Field(alias="$env", pattern=r"^[A-Z_][A-Z0-9_]*$")

    def __repr__(self) -> str:
        return f"EnvRef(${self.env})"


class Contacts(Strict):
    privacy_email: str
    privacy_phone: str | None = None
    postal_address: str | None = None
    web_form: str | None = None
    security_email: str | None = None
    security_pgp_key: str | None = None
    copyright_agent: str | None = None


class Organization(Strict):
    name: str
    controller: str
    contacts: Contacts
    jurisdictions: list[Literal["us-ca", "us", "eu", "uk", "ca", "in"]] = ["us-ca"]
    minimum_age: int = Field(ge=0, le=21)
    effective_date: dt.date
    sells_personal_information: bool = False
    shares_personal_information: bool = False
    dnt: Literal["honoured", "not_honoured"] = "not_honoured"
    gpc: Literal["opt_out_of_sale_and_sharing"] = "opt_out_of_sale_and_sharing"
    statement_url: str | None = None


class Connection(Strict):
    url: str | EnvRef
    """A SQLAlchemy URL. Inline only when it carries no password."""

    @field_validator("url")
    @classmethod
    def _no_inline_password(cls, value: str | EnvRef) -> str | EnvRef:
        if isinstance(value, str) and re.match(r"^[\w+]+://[^/@:]*:[^/@]+@", value):
            raise ValueError(
                "the URL holds a password; reference it instead: url: {$env: SHOP_DB_URL}"
            )
        return value


class System(Strict):
    key: Key
    name: str
    description: str = ""
    connector: str = "sql"
    connection: Connection | None = None
    """None for a system with no connector: erasures there become manual tasks."""
    locations: list[str] = Field(default_factory=lambda: ["US"])
    """Where the system's data is hosted, as ISO 3166 country or region codes."""
    safeguards: str = ""
    """What protects data hosted outside the people's own region (GDPR Art. 46):
    "EU Standard Contractual Clauses (2021/914)". Shown in the statement and the
    record of processing."""


class IdentityType(Strict):
    key: Key
    label: str
    normalize: Literal["none", "lowercase", "digits"] = "none"
    """Applied to a requester's identity and matched against stored values as is."""
    max_length: int = Field(default=320, ge=1, le=4096)


class CategoryExtension(Strict):
    fides_key: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
    parent_key: str
    name: str
    description: str = ""


class Taxonomy(Strict):
    data_categories: list[CategoryExtension] = []


class Purpose(Strict):
    key: Key
    name: str
    description: str
    data_use: str
    """A fideslang data use, such as ``essential.service.payment_processing``."""
    legal_basis: str = ""
    collections: list[str] = []
    categories: list[str] = []
    """When given, the only categories this purpose uses: those of its collections that
    fall under one of them, plus any no collection shows (received from a source)."""


class Source(Strict):
    key: Key
    name: str
    description: str = ""
    context: str = ""
    """Where collection happens: sign-up, purchase, returns, call center..."""
    collections: list[str] = []
    categories: list[str] = []
    """Data categories from this source that no collection shows, e.g. what partners send."""


RecipientType = Literal[
    "service_provider", "contractor", "third_party", "affiliate", "authority", "carrier"
]
RECIPIENT_TYPES: tuple[str, ...] = get_args(RecipientType)


class Recipient(Strict):
    key: Key
    name: str
    type: RecipientType
    description: str = ""
    purposes: list[str] = []
    categories: list[str] = []
    """Data categories the recipient receives."""
    forbidden_categories: list[str] = []
    """Categories the statement promises this recipient never gets."""
    locations: list[str] = Field(default_factory=lambda: ["US"])
    sale: bool = False
    share: bool = False
    safeguards: str = ""
    """What protects a transfer to this recipient's locations (GDPR Art. 46)."""


class Tracker(Strict):
    key: Key
    name: str
    vendor: str
    category: Literal["strictly_necessary", "functional", "analytics", "advertising"]
    purpose: str
    lifetime: str
    opt_out_url: str | None = None


DURATION = re.compile(r"^\s*(\d+)\s*(day|week|month|year)s?\s*$")


class RetentionRule(Strict):
    key: Key
    collections: list[str]
    duration: str
    """A whole number of days, weeks, months or years: ``7 years``."""
    anchor: str
    """The column the duration counts from, in every listed collection."""
    legal_basis: str
    action: Literal["delete", "anonymize"] = "delete"
    hold: bool = False
    """True when the law requires keeping rows for the whole duration, so an
    erasure request leaves rows inside the window untouched (GDPR Art. 17(3)(b),
    CCPA §1798.105(d)(8)). False for a limit only ("kept at most 13 months"),
    which never stops an erasure."""

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        match = DURATION.match(value)
        if not match:
            raise ValueError("write a duration as '<number> days|weeks|months|years'")
        days = int(match.group(1)) * {"day": 1, "week": 7, "month": 31, "year": 366}[match.group(2)]
        if not 0 < days <= 366 * 150:
            raise ValueError("a retention duration must be more than zero and at most 150 years")
        return value


Strategy = Literal["delete", "null", "rewrite", "hash", "keep"]


class ErasureRule(Strict):
    target: str
    """``dataset.collection`` for the whole collection, ``dataset.collection.field`` for one."""
    strategy: Strategy
    value: str | int | None = None
    """The fixed value written by ``rewrite``."""
    secret: EnvRef | None = None
    """The HMAC key for ``hash``."""
    reason: str | None = None
    """Why ``keep`` keeps the data; shown to the person."""

    @field_validator("strategy", mode="before")
    @classmethod
    def _bare_null(cls, value: object) -> object:
        # YAML reads an unquoted `null` as nothing at all; the user meant the strategy.
        return "null" if value is None else value


class KeptUntil(Strict):
    """Data kept until an event rather than for a fixed time: "until you close your account".

    Like a :class:`RetentionRule` without ``hold``, this never holds data back from
    an erasure request; it states how long data lives when nobody asks. ``at_most`` bounds
    the time for data that must not live indefinitely (sensitive categories).
    """

    key: Key
    collections: list[str]
    event: str
    """Ends the sentence "kept until ...": "you close your account or ask us to delete it"."""
    legal_basis: str = ""
    at_most: str | None = None
    """An upper bound, as a duration (``90 days``), counted from when the data was collected."""
    action: Literal["delete", "anonymize"] = "delete"

    @field_validator("at_most")
    @classmethod
    def _at_most(cls, value: str | None) -> str | None:
        if value is not None and not DURATION.match(value):
            raise ValueError("write a duration as '<number> days|weeks|months|years'")
        return value


class Subject(Strict):
    """A kind of person the store holds data about (GDPR Art. 30(1)(c))."""

    key: Key
    """A fideslang data subject (``customer``, ``visitor``, ``prospect``) or your own."""
    name: str
    description: str = ""
    collections: list[str] = []
    """The ``dataset.collection`` keys holding data about them."""


Matches = Literal["ANY", "ALL", "NONE", "OTHER"]


class Match(Strict):
    """One dimension of a policy rule, matched as fideslang's policy evaluation does."""

    matches: Matches
    values: list[str] = Field(min_length=1)


class Rule(Strict):
    """A combination the declaration must never contain; ``covenant check`` fails on it.

    A rule is broken by a processing activity (a purpose, or a recipient receiving
    data for a purpose) when every dimension it names matches. A dimension left
    out matches anything.
    """

    key: Key
    description: str
    fix: str = ""
    """The hint printed with a violation."""
    data_categories: Match | None = None
    data_uses: Match | None = None
    """Matched against a purpose's key, its fideslang data use, and the use's ancestors."""
    data_subjects: Match | None = None
    recipients: Match | None = None
    """Matched against a recipient's key and its type (``third_party``...)."""

    @model_validator(mode="after")
    def _some_dimension(self) -> Rule:
        if not any((self.data_categories, self.data_uses, self.data_subjects, self.recipients)):
            raise ValueError(
                "a rule needs at least one of data_categories, data_uses, data_subjects, recipients"
            )
        return self


ChangeChannel = Literal["website_notice", "email", "account_notice", "push_message"]
OtherDisclosure = Literal[
    "at_your_direction", "business_transfer", "legal_process", "debt_collection"
]


def _website_notice() -> list[ChangeChannel]:
    return ["website_notice"]


class Statement(Strict):
    """What the generated privacy statement says beyond what the rest of the declaration shows."""

    intro: str = ""
    """A paragraph after the title, in the store's own words."""
    terms_url: str | None = None
    """The terms of use the statement is part of."""
    disclosures: list[OtherDisclosure] = []
    """Disclosures that no recipient shows: at your direction, in a sale of the business..."""
    change_channels: list[ChangeChannel] = Field(default_factory=_website_notice)
    """How people are told about a material change."""
    reconsent_on_material_change: bool = False
    """Ask for consent again at the next sign-in after a material change."""
    glossary: dict[str, str] = {}
    """Terms added to, or replacing, the built-in glossary."""


class Security(Strict):
    """The security measures the statement describes, and the fields of security.txt (RFC 9116)."""

    measures: list[str] = []
    """Technical and organisational measures (GDPR Art. 32), in plain words."""
    report_url: str | None = None
    """A web form for vulnerability reports; a second ``Contact`` in security.txt."""
    policy_url: str | None = None
    languages: list[str] = Field(default_factory=lambda: ["en"])
    """Languages reports may be written in, as RFC 5646 tags."""
    canonical_url: str | None = None
    """Where security.txt is published; by default derived from ``statement_url``."""
    acknowledgments_url: str | None = None
    hiring_url: str | None = None
    expires_days: int = Field(default=180, ge=1, le=365)
    """security.txt ``Expires`` is this many days after it is written (RFC 9116 §2.5.5)."""


class AccessPolicy(Strict):
    exclude_categories: list[str] = []
    """Categories never written into an access package (password hashes, tokens)."""


class VerificationPoint(Strict):
    """Where the store holds one data point a requester can be asked for (CCPA regs §7062)."""

    field: str = Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+$")
    """``dataset.collection.field`` holding the value."""
    type: Literal[
        "text",
        "reference",
        "card_last4",
        "postal_code",
        "phone",
        "date",
        "date_day_first",
        "amount",
    ]
    label: str
    """What the requester is asked, in plain words: "The ZIP code of a shipping address"."""


class AgentRules(Strict):
    """What an authorized agent must show (CCPA regs §7063); a power of attorney is never required."""

    signed_permission: bool = True
    consumer_step: Literal["none", "verify", "confirm", "verify_or_confirm"] = "verify_or_confirm"


class RequestDesk(Strict):
    """How the request desk verifies, times and delivers requests."""

    timezone: str = "America/Los_Angeles"
    """The store's time zone: deadlines end at midnight there (IANA name)."""
    verification_points: dict[Key, VerificationPoint] = {}
    """The data points a requester may be asked to match, by name."""
    sensitive_deletion: bool = False
    """Deletion and correction need three matching points, not two (§7062(d), (e))."""
    agents: AgentRules = AgentRules()
    deadlines: dict[str, dict[str, Any]] = {}
    """Per jurisdiction (``us-ca``, ``eu``), overrides of the default deadline rules."""
    delivery_days: int = Field(default=7, ge=1, le=45)
    """How long a download link works; the file is deleted when it expires."""
    auto_approve: list[
        Literal["know_categories", "know_specific", "access", "delete", "correct"]
    ] = ["know_categories", "know_specific", "access"]
    """Kinds fulfilled as soon as they are verified; the rest wait for staff approval."""


class DatasetEntry(Strict):
    """Where a dataset comes from: a Fides dataset file, or inline."""

    include: str | None = None
    dataset: dict[str, Any] | None = None
    system: str
    """The key of the system that holds this dataset."""


class Declaration(Strict):
    """The whole declaration after includes are resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    version: Literal[1] = 1
    organization: Organization
    systems: list[System]
    datasets: list[Dataset]
    taxonomy: Taxonomy = Taxonomy()
    identities: list[IdentityType] = []
    purposes: list[Purpose] = []
    sources: list[Source] = []
    recipients: list[Recipient] = []
    trackers: list[Tracker] = []
    retention: list[RetentionRule] = []
    kept_until: list[KeptUntil] = []
    erasure: list[ErasureRule] = []
    access: AccessPolicy = AccessPolicy()
    requests: RequestDesk = RequestDesk()
    subjects: list[Subject] = []
    statement: Statement = Statement()
    security: Security = Security()
    rules: list[Rule] = []
    """Policy rules; evaluated by ``covenant check`` with the built-in rules."""
