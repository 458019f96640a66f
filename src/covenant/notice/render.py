"""Turning a :class:`~covenant.notice.document.Document` into HTML, Markdown or plain text.

HTML comes from a Jinja2 template shipped with the package, autoescaped, so
nothing from the declaration can inject markup. Markdown and plain text are
written here: whitespace is their syntax, and Python states it more plainly
than a template. Renderers never decide what the statement says, only how it
looks; all three read the same document. Pure: strings in, strings out.
"""

from __future__ import annotations

import re
import textwrap
from functools import cache
from importlib.resources import files
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from covenant.notice.document import (
    Block,
    Bullets,
    Definitions,
    Document,
    Inline,
    Link,
    Paragraph,
    Section,
    Table,
)

Format = Literal["html", "md", "txt"]
FORMATS: tuple[Format, ...] = ("html", "md", "txt")
WIDTH = 78


def render(doc: Document, fmt: Format, stylesheet: str | None = None) -> str:
    """``stylesheet``: for HTML, a URL to link instead of inlining :func:`css`."""
    if fmt == "html":
        return html(doc, stylesheet)
    if fmt == "md":
        return markdown(doc)
    return text(doc)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("covenant.notice", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    env.tests.update(
        link_span=lambda v: isinstance(v, Link),
        paragraph=lambda v: isinstance(v, Paragraph),
        bullets=lambda v: isinstance(v, Bullets),
        data_table=lambda v: isinstance(v, Table),
        definitions=lambda v: isinstance(v, Definitions),
    )
    return env


def html(doc: Document, stylesheet: str | None = None) -> str:
    """One page; the style is inlined unless ``stylesheet`` names a URL serving :func:`css`."""
    template = environment().get_template("statement.html.j2")
    return template.render(doc=doc, stylesheet=stylesheet, css="" if stylesheet else css())


@cache
def css() -> str:
    """The statement's style sheet; the web app serves it as ``text/css``."""
    return files("covenant.notice").joinpath("templates/statement.css").read_text("utf-8")


# -- Markdown -------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
_MD_LINE_START = re.compile(r"^(#|[-+]\s|\d+\.\s)")


def _md_text(value: str) -> str:
    return _MD_LINE_START.sub(r"\\\1", _MD_SPECIAL.sub(r"\\\1", value))


def _md_inline(run: Inline) -> str:
    out = []
    for span in run:
        if isinstance(span, Link):
            out.append(f"[{_md_text(span.text)}](<{span.href.replace('>', '%3E')}>)")
        else:
            out.append(_md_text(span))
    return "".join(out).replace("\n", " ")


def markdown(doc: Document) -> str:
    lines = [f"# {_md_text(doc.title)}", "", f"Effective {doc.effective}", ""]
    lines += ["## Contents", ""]
    lines += [f"{i}. [{_md_text(s.title)}](#{s.id})" for i, s in enumerate(doc.sections, 1)]
    lines.append("")
    for s in doc.sections:
        lines += _md_section(s, 2)
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_section(s: Section, level: int) -> list[str]:
    # An explicit anchor keeps "#rights" links working in every Markdown renderer.
    lines = [f'<a id="{s.id}"></a>', "", f"{'#' * level} {_md_text(s.title)}", ""]
    for b in s.blocks:
        lines += _md_block(b)
        lines.append("")
    for sub in s.subsections:
        lines += _md_section(sub, level + 1)
    return lines


def _md_block(b: Block) -> list[str]:
    if isinstance(b, Paragraph):
        return [_md_inline(b.text)]
    if isinstance(b, Bullets):
        return [f"- {_md_inline(i)}" for i in b.items]
    if isinstance(b, Definitions):
        return [f"- **{_md_text(t)}**: {_md_inline(m)}" for t, m in b.items]
    head = "| " + " | ".join(_md_text(h) for h in b.header) + " |"
    rule = "|" + "|".join("---" for _ in b.header) + "|"
    rows = ["| " + " | ".join(_md_inline(c) for c in row) + " |" for row in b.rows]
    return [f"**{_md_text(b.caption)}**", "", head, rule, *rows]


# -- Plain text -----------------------------------------------------------------


def _txt_inline(run: Inline) -> str:
    out = []
    for span in run:
        if isinstance(span, str):
            out.append(span)
        elif span.href.startswith("#") or span.text in (span.href, span.href.split(":", 1)[-1]):
            out.append(span.text)  # internal links and bare addresses read as themselves
        elif span.href.startswith("tel:"):
            out.append(span.text)
        else:
            out.append(f"{span.text} <{span.href}>")
    return "".join(out)


def _wrap(value: str, indent: str = "", hanging: str | None = None) -> list[str]:
    return textwrap.wrap(
        value,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=hanging if hanging is not None else indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def text(doc: Document) -> str:
    lines = [doc.title, "=" * len(doc.title), "", f"Effective {doc.effective}", ""]
    for i, s in enumerate(doc.sections, 1):
        lines += _txt_section(s, str(i))
    return "\n".join(lines).rstrip("\n") + "\n"


def _txt_section(s: Section, number: str) -> list[str]:
    title = f"{number}. {s.title}" if "." not in number else f"{number} {s.title}"
    underline = "-" if "." not in number else "~"
    lines = [title, underline * len(title), ""]
    for b in s.blocks:
        lines += _txt_block(b)
        lines.append("")
    for j, sub in enumerate(s.subsections, 1):
        lines += _txt_section(sub, f"{number}.{j}")
    return lines


def _txt_block(b: Block) -> list[str]:
    if isinstance(b, Paragraph):
        return _wrap(_txt_inline(b.text))
    if isinstance(b, Bullets):
        return [ln for item in b.items for ln in _wrap(_txt_inline(item), "  * ", "    ")]
    if isinstance(b, Definitions):
        out: list[str] = []
        for term, meaning in b.items:
            out += _wrap(f"{term}: {_txt_inline(meaning)}", "  ", "      ")
        return out
    lines = [f"{b.caption}:"]
    for row in b.rows:
        lines += _wrap(_txt_inline(row[0]), "  * ", "    ")
        for head, cell in zip(b.header[1:], row[1:], strict=True):
            lines += _wrap(f"{head}: {_txt_inline(cell)}", "      ", "        ")
    return lines
