"""What the declaration says, seen from the statement's side: who gets what, from where, why.

The statement, the California tables, the record of processing, the data-flow
diagram and the version diff all ask the same questions of the declaration.
:class:`Facts` answers them once, so these outputs cannot disagree. Pure code:
it reads a loaded declaration and never touches a file or a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from covenant.declaration import Loaded
from covenant.declaration.model import (
    KeptUntil,
    Purpose,
    Recipient,
    RetentionRule,
    Source,
    Subject,
)
from covenant.notice import words

EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
        "EU",
        "EEA",
    ]
)
"""Places inside the EU/EEA, where GDPR data may go without a transfer safeguard (Art. 44)."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """Data held or received in one place, by a system or a recipient."""

    place: str
    holder: str
    kind: str
    """``system`` or a recipient type."""
    safeguards: str


def within(category: str, ancestor: str) -> bool:
    return category == ancestor or category.startswith(ancestor + ".")


def overlaps(a: str, b: str) -> bool:
    """True when one category contains the other: receiving ``user.contact`` includes e-mail."""
    return within(a, b) or within(b, a)


def personal(category: str) -> bool:
    return within(category, "user")


class Facts:
    """Derived views of one loaded declaration, computed once."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.declaration = loaded.declaration
        self.catalog = loaded.catalog
        self.taxonomy = loaded.taxonomy
        self.collected: dict[str, tuple[str, ...]] = {}
        """Collection key -> the personal categories its fields carry, sorted."""
        for key, coll in self.catalog.collections.items():
            cats = sorted({c for f in coll.fields.values() for c in f.categories if personal(c)})
            if cats:
                self.collected[key] = tuple(cats)
        # A Fides dataset may name its collections' data subjects; they count as declared.
        self.fides_subjects: dict[str, tuple[str, ...]] = {
            f"{ds.fides_key}.{coll.name}": tuple(str(k) for k in coll.data_subjects or ())
            for ds in self.declaration.datasets
            for coll in ds.collections
        }
        # Field descriptions, which the catalog does not keep, say what a date means.
        self.descriptions: dict[tuple[str, str], str] = {
            (f"{ds.fides_key}.{coll.name}", f.name): f.description or ""
            for ds in self.declaration.datasets
            for coll in ds.collections
            for f in coll.fields
        }
        extra = {c for s in self.declaration.sources for c in s.categories if personal(c)}
        self.categories: tuple[str, ...] = tuple(
            sorted({c for cats in self.collected.values() for c in cats} | extra)
        )
        """Every personal category the store collects."""

    # -- labels ---------------------------------------------------------------

    def label(self, category: str) -> str:
        return words.category(category, self.taxonomy)

    def labels(self, categories: set[str] | tuple[str, ...] | list[str]) -> list[str]:
        """Plain names, parts merged into wholes, deduplicated, sorted."""
        return sorted({self.label(words.shown_category(c)) for c in categories}, key=str.lower)

    def collection_name(self, key: str) -> str:
        coll = self.catalog.collections.get(key)
        return words.humanize(coll.name) if coll else key

    # -- collection, purposes, sources ------------------------------------------

    def categories_in(self, collections: list[str]) -> set[str]:
        return {c for key in collections for c in self.collected.get(key, ())}

    def purpose_categories(self, purpose: Purpose) -> set[str]:
        found = self.categories_in(purpose.collections)
        if not purpose.categories:
            return found
        kept = {c for c in found if any(within(c, p) for p in purpose.categories)}
        return kept | {p for p in purpose.categories if personal(p) and not _covers(p, kept)}

    def source_categories(self, source: Source) -> set[str]:
        return self.categories_in(source.collections) | {
            c for c in source.categories if personal(c)
        }

    def purposes_of(self, category: str) -> list[Purpose]:
        return [p for p in self.declaration.purposes if category in self.purpose_categories(p)]

    def sources_of(self, category: str) -> list[Source]:
        return [s for s in self.declaration.sources if category in self.source_categories(s)]

    def subjects_of(self, collections: list[str]) -> list[Subject]:
        """Declared subjects of these collections, then those the Fides dataset names."""
        wanted = set(collections)
        out = [s for s in self.declaration.subjects if wanted & set(s.collections)]
        known = {s.key for s in self.declaration.subjects}
        fides = sorted({k for c in collections for k in self.fides_subjects.get(c, ())} - known)
        # Built without validation: a Fides subject key need not follow Covenant's key pattern.
        return out + [
            Subject.model_construct(key=k, name=words.humanize(k), description="", collections=[])
            for k in fides
        ]

    def unsourced(self) -> list[str]:
        """Collections with personal data that no source names, in catalog order."""
        named = {k for s in self.declaration.sources for k in s.collections}
        return [k for k in self.collected if k not in named]

    # -- recipients -------------------------------------------------------------

    def received(self, recipient: Recipient) -> set[str]:
        """The collected categories a recipient gets; a broad category covers its parts."""
        out = {c for c in self.categories for r in recipient.categories if within(c, r)}
        # A recipient may get something no field shows (a full card number goes to
        # the processor, never into our database): it still counts.
        out |= {r for r in recipient.categories if personal(r) and not _covers(r, out)}
        return out

    def recipients_of(self, category: str) -> list[Recipient]:
        return [r for r in self.declaration.recipients if category in self.received(r)]

    def purpose(self, key: str) -> Purpose | None:
        return next((p for p in self.declaration.purposes if p.key == key), None)

    @property
    def sells(self) -> bool:
        """True when the declaration or any recipient says data is sold (CCPA §1798.140(ad))."""
        d = self.declaration
        return d.organization.sells_personal_information or any(r.sale for r in d.recipients)

    @property
    def shares(self) -> bool:
        """True when data is shared for cross-context behavioural advertising (§1798.140(ah))."""
        d = self.declaration
        return d.organization.shares_personal_information or any(r.share for r in d.recipients)

    # -- places -----------------------------------------------------------------

    def transfers(self) -> list[Transfer]:
        """Every place data is held or received, systems first, in declaration order."""
        out = [
            Transfer(loc, s.name, "system", s.safeguards)
            for s in self.declaration.systems
            for loc in s.locations
        ]
        out += [
            Transfer(loc, r.name, r.type, r.safeguards)
            for r in self.declaration.recipients
            for loc in r.locations
        ]
        return out

    def places(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.transfers():
            seen.setdefault(t.place.upper(), None)
        return list(seen)

    # -- retention --------------------------------------------------------------

    def retention_of(self, collection: str) -> list[RetentionRule | KeptUntil]:
        d = self.declaration
        rules: list[RetentionRule | KeptUntil] = [
            r for r in d.retention if collection in r.collections
        ]
        return rules + [k for k in d.kept_until if collection in k.collections]

    def anchor_words(self, rule: RetentionRule) -> str:
        """What the duration counts from, in words: the anchor field's description
        ("When the order was placed." reads "when the order was placed"), else its name."""
        for key in rule.collections:
            description = self.descriptions.get((key, rule.anchor), "")
            if description:
                # A parenthesis explains storage ("copied from the order"), not meaning.
                return words.lower_first(description.split("(")[0].strip().rstrip("."))
        return words.humanize(rule.anchor).lower()


def _covers(category: str, found: set[str]) -> bool:
    return any(overlaps(category, f) for f in found)
