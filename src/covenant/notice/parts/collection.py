"""What we collect, context by context, and why we use it.

Keeps seeds P4, P5, H4, H5, H6, H12 and H18: the categories come from the
declared fields, grouped by the sources that name the collections; purposes
come from the declared purposes. Cal. Code Regs. tit. 11 §7011(e)(1)(A)-(E).
"""

from __future__ import annotations

from covenant.declaration.model import Source
from covenant.notice import words
from covenant.notice.document import Block, Section, bullets, para, table
from covenant.notice.parts.base import Context, anchor


def collected(ctx: Context) -> Section:
    f = ctx.facts
    subsections = [_source(ctx, s) for s in ctx.d.sources if f.source_categories(s)]
    rest = f.unsourced()
    if rest:
        cats = f.categories_in(rest)
        subsections.append(
            Section(
                "collect-other",
                "Other records we keep",
                (
                    para(
                        "Records kept in "
                        + words.join(f.collection_name(k).lower() for k in rest)
                        + ":"
                    ),
                    bullets(_grouped(ctx, cats)),
                ),
            )
        )
    intro: list[Block] = [
        para(
            "Personal information is information that identifies you or can be linked to "
            "you. Information we link to your account is personal information too. What "
            "we collect depends on how you deal with us:"
        )
    ]
    if ctx.d.trackers:
        intro.append(
            para(
                "We also collect information with cookies and similar technologies; see ",
                anchor("cookies", "Cookies and similar technologies"),
                ".",
            )
        )
    return Section("collect", "What we collect", tuple(intro), tuple(subsections))


def _source(ctx: Context, source: Source) -> Section:
    f = ctx.facts
    blocks: list[Block] = []
    if source.description:
        blocks.append(para(source.description))
    blocks.append(bullets(_grouped(ctx, f.source_categories(source))))
    used = [p.name for p in ctx.d.purposes if set(p.collections) & set(source.collections)]
    if used:
        blocks.append(para("We use it for: " + words.join(u.lower() for u in used) + "."))
    return Section(f"collect-{source.key}", source.name, tuple(blocks))


def _grouped(ctx: Context, categories: set[str]) -> list[str]:
    """``Contact details: e-mail address, phone number`` — one line per kind of information."""
    f = ctx.facts
    groups: dict[str, set[str]] = {}
    for cat in categories:
        shown = words.shown_category(cat)
        top = f.taxonomy.top_level(shown)
        groups.setdefault(top, set()).add(shown)
    out = []
    for top, members in groups.items():
        if members == {top}:
            out.append(words.upper_first(f.label(top)))
        else:
            parts = sorted({f.label(m) for m in members if m != top}, key=str.lower)
            if top in members:  # the kind itself is declared too: say there is more
                parts.append(f"other {f.label(top)}")
            out.append(f"{words.upper_first(f.label(top))}: {', '.join(parts)}")
    return sorted(out, key=str.lower)


def purposes(ctx: Context) -> Section:
    f = ctx.facts
    header = ["Purpose", "What we do", "Information used"]
    if ctx.gdpr:
        header.append("Legal basis")
    rows = []
    for p in ctx.d.purposes:
        used = f.labels(f.purpose_categories(p))
        row = [p.name, p.description, words.upper_first(", ".join(used)) if used else "—"]
        if ctx.gdpr:
            row.append(p.legal_basis or "—")
        rows.append(row)
    blocks: list[Block] = [
        para("We use personal information only for the purposes below."),
        table("Why we use personal information", header, rows),
    ]
    if any(p.data_use.startswith("analytics") for p in ctx.d.purposes):
        blocks.append(
            para(
                "We also combine information into statistics that identify no one (",
                anchor("glossary", "aggregate information"),
                ") to learn how our services are used and to improve them.",
            )
        )
    return Section("purposes", "Why we use it", tuple(blocks))
