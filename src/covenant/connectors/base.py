"""The one small interface every connector implements, and the registry that finds them.

The engine speaks in :class:`Selector` and :class:`Mutation` values, never in
SQL, so a connector for a non-SQL store implements the same five methods. A
connector must answer each call with one set-based operation per collection
(batched only when a value list exceeds what its backend accepts), and must
apply a list of mutations atomically.
"""

from __future__ import annotations

import datetime as dt
import functools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from covenant.declaration.catalog import CollectionInfo
from covenant.declaration.model import System
from covenant.errors import ConnectorError

GROUP = "covenant.connectors"


@dataclass(frozen=True, slots=True)
class Match:
    """Rows whose ``field`` equals one of ``values``."""

    field: str
    values: frozenset[Any]


@dataclass(frozen=True, slots=True)
class HoldFilter:
    """Restrict to rows inside (``held=True``) or outside a retention hold.

    A row is held when its ``anchor`` is on or after ``cutoff``, or unknown:
    when the date that starts the clock is missing, keeping is the safe side.
    """

    anchor: str
    cutoff: dt.datetime
    held: bool


@dataclass(frozen=True, slots=True)
class Selector:
    """Rows matching any of ``any_of``, optionally narrowed by a retention hold."""

    any_of: tuple[Match, ...]
    hold: HoldFilter | None = None

    @property
    def empty(self) -> bool:
        return not any(m.values for m in self.any_of)

    def narrowed(self, hold: HoldFilter | None) -> Selector:
        return Selector(self.any_of, hold)


@dataclass(frozen=True, slots=True)
class SetNull:
    pass


@dataclass(frozen=True, slots=True)
class SetValue:
    value: Any


@dataclass(frozen=True, slots=True)
class Hash:
    """Replace each known old value with its keyed hash."""

    mapping: Mapping[Any, str]


Assignment = SetNull | SetValue | Hash


@dataclass(frozen=True, slots=True)
class Delete:
    collection: str
    selector: Selector


@dataclass(frozen=True, slots=True)
class Update:
    collection: str
    selector: Selector
    assignments: Mapping[str, Assignment] = field(default_factory=dict)


Mutation = Delete | Update


@dataclass(frozen=True, slots=True)
class NoneOf:
    """An erased state for ``count(where_not=...)``: the field holds none of these values."""

    values: frozenset[Any]


@dataclass(frozen=True, slots=True)
class CountRequest:
    collection: str
    selector: Selector
    where_not: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ColumnType:
    python_type: type
    length: int | None = None
    nullable: bool = True


class Staged(ABC):
    """Changes made inside a transaction that is still open."""

    affected: list[int]
    """Rows affected by each mutation, in order."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...


class Connector(ABC):
    """Reads and changes the collections of one system."""

    def __init__(
        self, *, system: System, collections: Mapping[str, CollectionInfo], base_dir: Path
    ) -> None:
        self.system = system
        self.collections = collections
        self.base_dir = base_dir

    @abstractmethod
    def read(
        self, collection: str, columns: Sequence[str], selector: Selector, *, batch_size: int = 5000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Stream the selected rows' ``columns`` in batches."""

    @abstractmethod
    def count(
        self, collection: str, selector: Selector, *, where_not: Mapping[str, Any] | None = None
    ) -> int:
        """Count selected rows; ``where_not`` keeps rows whose field still differs from erasure.

        ``where_not`` maps a field to the erased state it must be in: ``None``
        (must be null), a value (must equal it), or a frozenset (must be null
        or one of these, such as the keyed hashes just written), or
        :class:`NoneOf` (must not be one of these old values). A row is counted
        when any field breaks its expectation.
        """

    def count_many(self, requests: Sequence[CountRequest]) -> list[int]:
        """Several counts at once; a connector may answer them in one round trip."""
        return [self.count(r.collection, r.selector, where_not=r.where_not) for r in requests]

    @abstractmethod
    def stage(self, mutations: Sequence[Mutation]) -> Staged:
        """Run all ``mutations`` in one open transaction, to be committed or rolled back.

        Staging every database before committing any keeps a multi-database
        erasure from committing in one store while another refuses.
        """

    def apply(self, mutations: Sequence[Mutation]) -> list[int]:
        """Apply all ``mutations`` in one transaction; return rows affected by each."""
        staged = self.stage(mutations)
        staged.commit()
        return staged.affected

    @abstractmethod
    def column_types(self, collection: str) -> dict[str, ColumnType]:
        """The type of each column, for validating corrections."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


@functools.cache
def connector_class(name: str) -> type[Connector]:
    """Find a registered connector class by name.

    Cached: scanning installed packages' entry points costs about 20 ms, paid
    once per process rather than once per request a worker fulfils.
    """
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Connector)):
                raise ConnectorError(f"connector '{name}' does not implement covenant's Connector")
            return cls
    if name == "sql":  # running from a source tree that was not installed
        from covenant.connectors.sql import SQLConnector

        return SQLConnector
    raise ConnectorError(f"no connector named '{name}' is installed")


def connector_for(
    system: System, collections: Mapping[str, CollectionInfo], base_dir: Path
) -> Connector:
    cls = connector_class(system.connector)
    return cls(system=system, collections=collections, base_dir=base_dir)
