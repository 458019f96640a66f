"""What the engine reports back: plain dataclasses that render to JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CollectionAccess:
    collection: str
    rows: int
    columns: list[str]
    excluded: list[str]
    """Columns left out of the package by the declaration's access policy."""


@dataclass
class AccessResult:
    request_id: str
    identities: dict[str, list[str]]
    package: str
    sha256: str
    bytes: int
    collections: list[CollectionAccess]
    manual: list[str] = field(default_factory=list)
    """Collections people must search: in systems without a connection, or
    reached only partly because a link runs through such a system."""

    @property
    def total_rows(self) -> int:
        return sum(c.rows for c in self.collections)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_rows": self.total_rows}


@dataclass
class KeptField:
    field: str
    reason: str


@dataclass
class CollectionErasure:
    collection: str
    action: str
    """``delete``, ``update`` or ``keep``, as the declaration says."""
    found: int = 0
    deleted: int = 0
    masked: int = 0
    masked_fields: list[str] = field(default_factory=list)
    held: int = 0
    held_reason: str | None = None
    kept_fields: list[KeptField] = field(default_factory=list)
    kept_reason: str | None = None
    remaining: int = 0
    """Erasable rows or fields still present when re-read; must be zero."""


@dataclass
class ErasureResult:
    request_id: str
    identities: dict[str, list[str]]
    verified: bool
    collections: list[CollectionErasure]
    manual: list[str] = field(default_factory=list)
    """As for access: collections the engine could not fully reach or prove."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RowChange:
    key: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass
class CorrectionResult:
    request_id: str
    identities: dict[str, list[str]]
    collection_changes: dict[str, list[RowChange]]
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
