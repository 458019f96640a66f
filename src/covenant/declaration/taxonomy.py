"""Data categories and data uses: fideslang's default taxonomy plus the store's extensions."""

from __future__ import annotations

from dataclasses import dataclass

from fideslang.default_taxonomy import DEFAULT_TAXONOMY

from covenant.declaration.model import CategoryExtension


@dataclass(frozen=True, slots=True)
class Term:
    key: str
    name: str
    description: str
    parent: str | None


class Taxonomy:
    """Known categories and uses, with plain-language names for reports."""

    def __init__(self, extensions: list[CategoryExtension] | None = None) -> None:
        self.categories: dict[str, Term] = {
            c.fides_key: Term(c.fides_key, c.name or c.fides_key, c.description or "", c.parent_key)
            for c in DEFAULT_TAXONOMY.data_category
        }
        self.uses: dict[str, Term] = {
            u.fides_key: Term(u.fides_key, u.name or u.fides_key, u.description or "", u.parent_key)
            for u in DEFAULT_TAXONOMY.data_use
        }
        for ext in extensions or []:
            self.categories[ext.fides_key] = Term(
                ext.fides_key, ext.name, ext.description, ext.parent_key
            )

    def label(self, category: str) -> str:
        term = self.categories.get(category)
        return term.name if term else category

    def is_within(self, category: str, ancestor: str) -> bool:
        """True when ``category`` is ``ancestor`` or lies beneath it."""
        return category == ancestor or category.startswith(ancestor + ".")

    def top_level(self, category: str) -> str:
        """The second-level ancestor (``user.contact``), used to group reports."""
        parts = category.split(".")
        return ".".join(parts[:2])
