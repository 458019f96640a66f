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
from typing import Annotated, Any, Literal

from fideslang.models import Dataset
from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class Source(Strict):
    key: Key
    name: str
    description: str = ""
    context: str = ""
    """Where collection happens: sign-up, purchase, returns, call center..."""
    collections: list[str] = []


RecipientType = Literal[
    "service_provider", "contractor", "third_party", "affiliate", "authority", "carrier"
]


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

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not DURATION.match(value):
            raise ValueError("write a duration as '<number> days|weeks|months|years'")
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


class AccessPolicy(Strict):
    exclude_categories: list[str] = []
    """Categories never written into an access package (password hashes, tokens)."""


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
    erasure: list[ErasureRule] = []
    access: AccessPolicy = AccessPolicy()
    rules: list[dict[str, Any]] = []
    """Policy rules; evaluated by ``covenant check``."""
