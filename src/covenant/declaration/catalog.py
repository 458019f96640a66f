"""An indexed, read-only view of the declared datasets.

The planner, the validator and the engine all ask the same questions: which
collections exist, which fields carry personal data, which identities seed
which fields, how collections reference each other. The catalog answers them
once, from the fideslang datasets, without I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from fideslang.models import Dataset, DatasetField

Direction = Literal["from", "to"] | None


@dataclass(frozen=True, slots=True)
class Reference:
    """A declared link from a field to ``collection.field`` elsewhere."""

    collection: str
    field: str
    direction: Direction


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    categories: tuple[str, ...]
    identity: str | None = None
    primary_key: bool = False
    data_type: str | None = None
    references: tuple[Reference, ...] = ()
    nested: bool = False

    @property
    def personal(self) -> bool:
        return any(c == "user" or c.startswith("user.") for c in self.categories)


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    key: str
    """``dataset.collection``, unique across the declaration."""
    dataset: str
    name: str
    fields: dict[str, FieldInfo]
    after: tuple[str, ...] = ()
    skip: bool = False
    system: str | None = None

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields.values() if f.primary_key)

    @property
    def personal_fields(self) -> list[FieldInfo]:
        return [f for f in self.fields.values() if f.personal]


@dataclass(frozen=True, slots=True)
class Edge:
    """Values of ``source_field`` in ``source`` select rows of ``target`` by ``target_field``."""

    source: str
    source_field: str
    target: str
    target_field: str
    directed: bool


@dataclass
class Catalog:
    collections: dict[str, CollectionInfo] = field(default_factory=dict)

    def edges(self) -> Iterator[Edge]:
        """Every traversal edge, with undirected references yielded both ways."""
        for coll in self.collections.values():
            for f in coll.fields.values():
                for ref in f.references:
                    if ref.direction in ("from", None):
                        yield Edge(
                            ref.collection, ref.field, coll.key, f.name, ref.direction is not None
                        )
                    if ref.direction in ("to", None):
                        yield Edge(
                            coll.key, f.name, ref.collection, ref.field, ref.direction is not None
                        )

    def identity_types(self) -> set[str]:
        return {
            f.identity for c in self.collections.values() for f in c.fields.values() if f.identity
        }

    def field(self, collection: str, name: str) -> FieldInfo | None:
        coll = self.collections.get(collection)
        return coll.fields.get(name) if coll else None


def build_catalog(datasets: list[Dataset], systems: dict[str, str]) -> Catalog:
    """Index ``datasets``; ``systems`` maps a dataset key to the system that holds it."""
    catalog = Catalog()
    for ds in datasets:
        for coll in ds.collections:
            key = f"{ds.fides_key}.{coll.name}"
            meta = coll.fides_meta
            after = tuple(str(a) for a in (meta.after or [])) if meta else ()
            catalog.collections[key] = CollectionInfo(
                key=key,
                dataset=ds.fides_key,
                name=coll.name,
                fields={f.name: _field(f, ds.fides_key) for f in coll.fields},
                after=after,
                skip=bool(meta and meta.skip_processing),
                system=systems.get(ds.fides_key),
            )
    return catalog


def _field(f: DatasetField, dataset: str) -> FieldInfo:
    meta = f.fides_meta
    refs: list[Reference] = []
    identity = None
    primary_key = False
    data_type = None
    if meta is not None:
        identity = meta.identity
        primary_key = bool(meta.primary_key)
        data_type = meta.data_type
        for ref in meta.references or []:
            target_coll, _, target_field = ref.field.partition(".")
            raw = getattr(ref.direction, "value", ref.direction)
            direction: Direction = "from" if raw == "from" else "to" if raw == "to" else None
            refs.append(Reference(f"{ref.dataset}.{target_coll}", target_field, direction))
    return FieldInfo(
        name=f.name,
        categories=tuple(f.data_categories or ()),
        identity=identity,
        primary_key=primary_key,
        data_type=data_type,
        references=tuple(refs),
        nested=bool(f.fields),
    )
