"""What every section builder receives: the facts, the published versions, and helpers."""

from __future__ import annotations

from dataclasses import dataclass

from covenant.declaration.model import Contacts, Declaration, Organization
from covenant.notice.document import Link
from covenant.notice.facts import Facts
from covenant.notice.versions import Version


@dataclass(frozen=True)
class Context:
    facts: Facts
    history: tuple[Version, ...] = ()
    """Published versions, oldest first; feeds the change log."""

    @property
    def d(self) -> Declaration:
        return self.facts.declaration

    @property
    def org(self) -> Organization:
        return self.facts.declaration.organization

    @property
    def contacts(self) -> Contacts:
        return self.facts.declaration.organization.contacts

    def has(self, jurisdiction: str) -> bool:
        return jurisdiction in self.org.jurisdictions

    @property
    def gdpr(self) -> bool:
        return self.has("eu") or self.has("uk")

    def email(self) -> Link:
        address = self.contacts.privacy_email
        return Link(address, f"mailto:{address}")

    def phone(self) -> Link | None:
        number = self.contacts.privacy_phone
        return Link(number, "tel:" + number.replace(" ", "")) if number else None

    def form(self, text: str | None = None) -> Link | None:
        url = self.contacts.web_form
        return Link(text or url, url) if url else None


def anchor(section_id: str, text: str) -> Link:
    """A link to another section of the statement."""
    return Link(text, f"#{section_id}")
