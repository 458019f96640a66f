"""Who receives personal information, by recipient type, and what is never shared.

Keeps seeds P8, P14, H14, H15, H16 and H17. The "we do not sell" sentence is
written only when no recipient is a sale and the organization says it does not
sell (CCPA §1798.120, §1798.135; Cal. Code Regs. tit. 11 §7011(e)(1)(F)-(G)).
"""

from __future__ import annotations

from covenant.declaration.model import Recipient
from covenant.notice import words
from covenant.notice.document import Block, Section, bullets, line, para, table
from covenant.notice.parts.base import Context, anchor

OTHER_DISCLOSURES: dict[str, str] = {
    "at_your_direction": (
        "At your direction: when you ask us to share something, for example a review "
        "you post to social media."
    ),
    "business_transfer": (
        "In a sale of our business: if we are part of a merger, acquisition, financing "
        "or sale of assets, your information may be transferred to the other parties "
        "as part of that transaction."
    ),
    "legal_process": (
        "When the law requires it: to answer subpoenas, court orders, search warrants "
        "and other legal process, and to protect the safety, rights or property of our "
        "customers, the public or us."
    ),
    "debt_collection": "To collect a debt you owe us.",
}


def sharing(ctx: Context) -> Section:
    f = ctx.facts
    blocks: list[Block] = [
        para(
            "We share personal information only with the recipients below, only what "
            "each one needs, and only for the purposes listed."
        )
    ]
    subsections = []
    for kind, (title, meaning) in words.RECIPIENT_TYPES.items():
        group = [r for r in ctx.d.recipients if r.type == kind]
        if group:
            subsections.append(_group(ctx, kind, title, meaning, group))
    never = [r for r in ctx.d.recipients if r.forbidden_categories]
    if never:
        subsections.append(
            Section(
                "never-shared",
                "What we never share",
                (
                    bullets(
                        f"{r.name}: we never give them your "
                        f"{words.join(f.labels(r.forbidden_categories), 'or')}."
                        for r in never
                    ),
                ),
            )
        )
    others = ctx.d.statement.disclosures
    if others:
        subsections.append(
            Section(
                "other-disclosures",
                "Other times we disclose information",
                (bullets(OTHER_DISCLOSURES[o] for o in others),),
            )
        )
    subsections.append(_sale(ctx))
    return Section("sharing", "Who we share it with", tuple(blocks), tuple(subsections))


def _group(ctx: Context, kind: str, title: str, meaning: str, group: list[Recipient]) -> Section:
    f = ctx.facts
    rows = []
    for r in group:
        why = [words.lower_first(p.name) for key in r.purposes if (p := f.purpose(key))]
        rows.append(
            [
                line(r.name),
                line(r.description or "—"),
                line(words.upper_first(", ".join(why)) if why else "—"),
                line(words.upper_first(", ".join(f.labels(f.received(r))))),
                line(words.join(words.place(p) for p in r.locations)),
            ]
        )
    return Section(
        f"recipients-{kind.replace('_', '-')}",
        title,
        (
            para(meaning),
            table(title, ("Recipient", "What they do", "Why", "What they receive", "Where"), rows),
        ),
    )


def _sale(ctx: Context) -> Section:
    f = ctx.facts
    blocks: list[Block] = []
    if f.sells:
        sold = [r.name for r in ctx.d.recipients if r.sale]
        blocks.append(
            para(
                "We sell personal information"
                + (f" to: {words.join(sold)}." if sold else ".")
                + " You can tell us not to; see ",
                anchor("choices", "Your choices"),
                ".",
            )
        )
    else:
        blocks.append(para("We do not sell your personal information."))
    if f.shares:
        shared = [r.name for r in ctx.d.recipients if r.share]
        blocks.append(
            para(
                "We share personal information for advertising based on your activity "
                "across other companies' sites (“cross-context behavioral advertising”)"
                + (f" with: {words.join(shared)}." if shared else ".")
                + " You can tell us not to; see ",
                anchor("choices", "Your choices"),
                ".",
            )
        )
    else:
        blocks.append(
            para(
                "We do not share your personal information for advertising based on your "
                "activity across other companies' sites."
            )
        )
    return Section("sale", "Selling and sharing", tuple(blocks))
