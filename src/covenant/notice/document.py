"""The statement as a tree of plain blocks, before it becomes HTML, Markdown or text.

Owns the shape every output format shares: sections with headings, paragraphs,
lists, tables with header cells, and definition lists. Building the tree decides
what the statement says; the renderers only decide how it looks, so the three
formats cannot say different things. Pure data: no I/O, no formatting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Link:
    text: str
    href: str


Span = str | Link
Inline = tuple[Span, ...]
"""A run of text and links: one paragraph, list item or table cell."""


def line(*parts: Span | None) -> Inline:
    """Join parts into an inline run, dropping ``None`` (absent optional pieces)."""
    return tuple(p for p in parts if p is not None and p != "")


def plain(inline: Inline) -> str:
    """The inline run as text, links shown by their text only."""
    return "".join(s if isinstance(s, str) else s.text for s in inline)


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: Inline


@dataclass(frozen=True, slots=True)
class Bullets:
    items: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A data table; the first column holds row headers (``<th scope="row">``)."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[Inline, ...], ...]


@dataclass(frozen=True, slots=True)
class Definitions:
    items: tuple[tuple[str, Inline], ...]


Block = Paragraph | Bullets | Table | Definitions


@dataclass(frozen=True)
class Section:
    id: str
    """The fragment identifier (``#rights``); stable across versions so links keep working."""
    title: str
    blocks: tuple[Block, ...] = ()
    subsections: tuple[Section, ...] = field(default=())


@dataclass(frozen=True)
class Document:
    title: str
    lang: str
    effective: str
    """The effective date, as people read it ("January 15, 2026")."""
    sections: tuple[Section, ...]


def para(*parts: Span | None) -> Paragraph:
    return Paragraph(line(*parts))


def bullets(items: Iterable[Inline | str]) -> Bullets:
    return Bullets(tuple((i,) if isinstance(i, str) else i for i in items))


def table(caption: str, header: Iterable[str], rows: Iterable[Iterable[Inline | str]]) -> Table:
    return Table(
        caption,
        tuple(header),
        tuple(tuple((c,) if isinstance(c, str) else c for c in row) for row in rows),
    )
