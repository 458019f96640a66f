"""The privacy statement: every section, in the order a reader needs them.

Owns the order and the title; each section's words live in
:mod:`covenant.notice.parts`. The result is a :class:`Document` that any
renderer turns into HTML, Markdown or text. Pure and deterministic: the same
declaration and history always give the same statement, so golden files stay
stable and a change in wording shows up in review.
"""

from __future__ import annotations

from collections.abc import Sequence

from covenant.declaration import Loaded
from covenant.notice import words
from covenant.notice.document import Document, Section
from covenant.notice.facts import Facts
from covenant.notice.parts import (
    about,
    california,
    choices,
    closing,
    collection,
    cookies,
    glossary,
    protection,
    retention,
    rights,
    sharing,
)
from covenant.notice.parts.base import Context
from covenant.notice.versions import Version


def build(loaded: Loaded, history: Sequence[Version] = ()) -> Document:
    """The statement for ``loaded``; ``history`` (oldest first) feeds the change log."""
    ctx = Context(Facts(loaded), tuple(history))
    org = ctx.org
    sections: list[Section | None] = [
        about.about(ctx),
        about.contact(ctx),
        collection.collected(ctx),
        collection.purposes(ctx),
        cookies.cookies(ctx),
        sharing.sharing(ctx),
        choices.choices(ctx),
        rights.rights(ctx),
        retention.retention(ctx),
        protection.security(ctx),
        protection.transfers(ctx),
        protection.children(ctx),
        protection.signals(ctx),
        california.california(ctx),
        closing.copyright_notice(ctx),
        closing.outside_links(),
        closing.changes(ctx),
        glossary.glossary(ctx),
    ]
    return Document(
        title=f"{org.name} privacy statement",
        lang="en",
        effective=words.date(org.effective_date),
        sections=tuple(s for s in sections if s is not None),
    )
