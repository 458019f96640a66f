"""The categories report: what a right-to-know answer says *about* a person's data.

CCPA (Cal. Civ. Code §1798.110, regulations §7024) and GDPR Art. 15 ask for
more than the rows themselves: the categories of personal information held,
where they came from, why they are used, and who receives them. This module
derives that answer from the declaration and from which collections hold rows
for the person.

It owns only that derivation. It is pure: it never reads a database or a file,
and never sees the person's values, only row counts per collection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from covenant.declaration.load import Loaded
from covenant.declaration.model import Purpose, Recipient, RecipientType, Source
from covenant.declaration.taxonomy import Taxonomy

RECIPIENT_TYPE_LABELS: dict[RecipientType, str] = {
    "service_provider": "Service provider",
    "contractor": "Contractor",
    "third_party": "Third party",
    "affiliate": "Affiliate",
    "authority": "Public authority",
    "carrier": "Carrier",
}


@dataclass(frozen=True, slots=True)
class CategoryEntry:
    key: str
    label: str
    description: str
    group: str
    """The second-level ancestor (``user.contact``) that reports group by."""
    group_label: str
    collections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SourceEntry:
    key: str
    name: str
    description: str
    context: str
    collections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PurposeEntry:
    key: str
    name: str
    description: str
    data_use: str
    data_use_label: str
    legal_basis: str
    collections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecipientEntry:
    key: str
    name: str
    type: RecipientType
    type_label: str
    description: str
    categories: tuple[str, ...]
    """The person's categories this recipient receives (the narrower of each overlap)."""
    category_labels: tuple[str, ...]
    purposes: tuple[str, ...]
    """Names of the declared purposes the recipient receives data for."""
    locations: tuple[str, ...]
    sale: bool
    share: bool


@dataclass(frozen=True, slots=True)
class CollectionCount:
    key: str
    rows: int


@dataclass(frozen=True, slots=True)
class CategoriesReport:
    collections: tuple[CollectionCount, ...]
    """Collections where the person has data, in declaration order."""
    categories: tuple[CategoryEntry, ...]
    sources: tuple[SourceEntry, ...]
    purposes: tuple[PurposeEntry, ...]
    recipients: tuple[RecipientEntry, ...]

    @property
    def has_data(self) -> bool:
        return bool(self.collections)

    @property
    def sold_to(self) -> tuple[RecipientEntry, ...]:
        return tuple(r for r in self.recipients if r.sale)

    @property
    def shared_with(self) -> tuple[RecipientEntry, ...]:
        return tuple(r for r in self.recipients if r.share)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sold"] = bool(self.sold_to)
        out["shared"] = bool(self.shared_with)
        return out


def categories_report(loaded: Loaded, found: Mapping[str, int]) -> CategoriesReport:
    """Build the report for a person with ``found[collection]`` rows in each collection."""
    unknown = sorted(k for k in found if k not in loaded.catalog.collections)
    if unknown:
        raise ValueError(f"collections not in the declaration: {', '.join(unknown)}")
    held = tuple(k for k in loaded.catalog.collections if found.get(k, 0) > 0)
    categories = _categories(loaded, held)
    keys = {c.key for c in categories}
    declaration = loaded.declaration
    purpose_names = {p.key: p.name for p in declaration.purposes}
    return CategoriesReport(
        collections=tuple(CollectionCount(k, found[k]) for k in held),
        categories=categories,
        sources=tuple(_source(s, held) for s in declaration.sources if _touches(s, held)),
        purposes=tuple(
            _purpose(p, held, loaded.taxonomy) for p in declaration.purposes if _touches(p, held)
        ),
        recipients=tuple(
            entry
            for r in declaration.recipients
            if (entry := _recipient(r, keys, loaded.taxonomy, purpose_names)) is not None
        ),
    )


def _categories(loaded: Loaded, held: tuple[str, ...]) -> tuple[CategoryEntry, ...]:
    # Only personal categories (``user.*``) are categories of personal information.
    # Categories the package withholds (password hashes) are still listed: the
    # person has a right to know they are collected, if not to receive them.
    where: dict[str, list[str]] = {}
    for key in held:
        for f in loaded.catalog.collections[key].personal_fields:
            for cat in f.categories:
                if _is_personal(cat) and key not in where.setdefault(cat, []):
                    where[cat].append(key)
    taxonomy = loaded.taxonomy
    return tuple(_category(cat, tuple(colls), taxonomy) for cat, colls in sorted(where.items()))


def _category(key: str, collections: tuple[str, ...], taxonomy: Taxonomy) -> CategoryEntry:
    term = taxonomy.categories.get(key)
    group = taxonomy.top_level(key)
    return CategoryEntry(
        key=key,
        label=taxonomy.label(key),
        description=term.description if term else "",
        group=group,
        group_label=taxonomy.label(group),
        collections=collections,
    )


def _is_personal(category: str) -> bool:
    return category == "user" or category.startswith("user.")


def _touches(item: Source | Purpose, held: tuple[str, ...]) -> bool:
    return any(c in held for c in item.collections)


def _source(s: Source, held: tuple[str, ...]) -> SourceEntry:
    return SourceEntry(
        s.key, s.name, s.description, s.context, tuple(c for c in s.collections if c in held)
    )


def _purpose(p: Purpose, held: tuple[str, ...], taxonomy: Taxonomy) -> PurposeEntry:
    use = taxonomy.uses.get(p.data_use)
    return PurposeEntry(
        key=p.key,
        name=p.name,
        description=p.description,
        data_use=p.data_use,
        data_use_label=use.name if use else p.data_use,
        legal_basis=p.legal_basis,
        collections=tuple(c for c in p.collections if c in held),
    )


def _recipient(
    r: Recipient, person: set[str], taxonomy: Taxonomy, purpose_names: Mapping[str, str]
) -> RecipientEntry | None:
    received = overlap(person, r.categories, r.forbidden_categories, taxonomy)
    if not received:
        return None
    return RecipientEntry(
        key=r.key,
        name=r.name,
        type=r.type,
        type_label=RECIPIENT_TYPE_LABELS[r.type],
        description=r.description,
        categories=received,
        category_labels=tuple(taxonomy.label(c) for c in received),
        purposes=tuple(purpose_names.get(p, p) for p in r.purposes),
        locations=tuple(r.locations),
        sale=r.sale,
        share=r.share,
    )


def overlap(
    person: Iterable[str],
    receives: Iterable[str],
    forbidden: Iterable[str],
    taxonomy: Taxonomy,
) -> tuple[str, ...]:
    """The categories a recipient gets of the person's: sorted, the narrower of each pair.

    A declared ``user.contact`` covers a person's ``user.contact.email``, and a
    person's broad ``user.contact`` field is touched by a recipient of
    ``user.contact.email``. What the statement promises a recipient never gets
    (``forbidden_categories``) is never reported as received.
    """
    receives, forbidden = list(receives), list(forbidden)
    out: set[str] = set()
    for mine in person:
        for theirs in receives:
            if taxonomy.is_within(mine, theirs):
                out.add(mine)
            elif taxonomy.is_within(theirs, mine):
                out.add(theirs)
    return tuple(sorted(c for c in out if not any(taxonomy.is_within(c, f) for f in forbidden)))
