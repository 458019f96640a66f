"""The California section: the four tables, selling and sharing, sensitive data, Shine the Light.

Keeps seeds P13, P14 and P21. The tables follow Cal. Civ. Code §1798.110(c),
§1798.115(c) and §1798.130(a)(5)(B)-(C) and Cal. Code Regs. tit. 11 §7011(e)(1).
"We have not sold in the past 12 months" is written only when no published
version from those 12 months said the store sold (or shared): the history is
the evidence.
"""

from __future__ import annotations

import datetime as dt

from covenant.notice import ccpa, words
from covenant.notice.document import Block, Section, para, table
from covenant.notice.facts import within
from covenant.notice.parts.base import Context, anchor


def california(ctx: Context) -> Section | None:
    if not ctx.has("us-ca"):
        return None
    rows = ccpa.rows(ctx.facts)
    blocks: list[Block] = [
        para(
            "This section applies if you live in California. It adds to the rest of this "
            "statement and uses the words of the California Consumer Privacy Act (CCPA). "
            "It covers information collected online and offline."
        ),
        para(
            "In the 12 months before this statement took effect, we collected the "
            "categories of personal information below, from the sources, for the "
            "purposes and disclosed to the recipients shown."
        ),
        table(
            "Categories of personal information we collect",
            ("Category", "Examples"),
            [[r.category.title, words.upper_first(", ".join(r.examples))] for r in rows],
        ),
        table(
            "Why we use each category",
            ("Category", "Purposes"),
            [[r.category.title, "; ".join(r.purposes) or "—"] for r in rows],
        ),
        table(
            "Where each category comes from",
            ("Category", "Sources"),
            [[r.category.title, "; ".join(r.sources) or "—"] for r in rows],
        ),
        table(
            "Who receives each category",
            ("Category", "Categories of recipients"),
            [
                [r.category.title, words.upper_first("; ".join(r.recipients)) or "Nobody"]
                for r in rows
            ],
        ),
    ]
    return Section(
        "california",
        "Your California privacy rights",
        tuple(blocks),
        (_selling(ctx), *_sensitive(ctx), _shine_the_light(ctx), _rights(ctx)),
    )


def _past_year(ctx: Context, flag: str) -> bool:
    """True when a version in force during the last 12 months said ``flag`` (sells/shares)."""
    effective = ctx.org.effective_date
    start = effective - dt.timedelta(days=365)
    versions = list(ctx.history)
    for i, v in enumerate(versions):
        until = versions[i + 1].effective_date if i + 1 < len(versions) else effective.isoformat()
        if until > start.isoformat() and v.snapshot.get(flag):
            return True
    return False


def _selling(ctx: Context) -> Section:
    f = ctx.facts
    blocks: list[Block] = []
    if not f.sells:
        past = "" if _past_year(ctx, "sells") else ", and we have not sold it in the past 12 months"
        blocks.append(para(f"We do not sell personal information{past}."))
    else:
        sold = ccpa.titles_for(f, [r for r in ctx.d.recipients if r.sale])
        blocks.append(
            para(
                "We sell these categories of personal information: "
                + words.join(sold)
                + ". You can opt out; see ",
                anchor("choices", "Your choices"),
                ".",
            )
        )
    if not f.shares:
        past = (
            "" if _past_year(ctx, "shares") else ", and we have not done so in the past 12 months"
        )
        blocks.append(
            para(
                "We do not share personal information for cross-context behavioral "
                f"advertising{past}."
            )
        )
    else:
        shared = ccpa.titles_for(f, [r for r in ctx.d.recipients if r.share])
        blocks.append(
            para(
                "We share these categories of personal information for cross-context "
                "behavioral advertising: " + words.join(shared) + ". You can opt out; see ",
                anchor("choices", "Your choices"),
                ".",
            )
        )
    return Section("california-sale", "Selling and sharing in the past 12 months", tuple(blocks))


def _sensitive(ctx: Context) -> tuple[Section, ...]:
    kinds = ccpa.sensitive(ctx.facts)
    if not kinds:
        return ()
    f = ctx.facts
    uses = list(
        dict.fromkeys(
            p.name.lower()
            for c in f.categories
            if "sensitive" in ccpa.ccpa_of(c)
            for p in f.purposes_of(c)
        )
    )
    return (
        Section(
            "california-sensitive",
            "Sensitive personal information",
            (
                para(
                    "We collect these kinds of sensitive personal information: "
                    + words.join(kinds)
                    + ". We use them only for: "
                    + (words.join(uses) or "the purposes above")
                    + ". We do not use them to infer characteristics about you. You can ask "
                    "us to limit their use to what is needed to provide the services you "
                    "asked for.",
                ),
            ),
        ),
    )


def _own_marketing(ctx: Context, key: str) -> bool:
    """A purpose that hands data to a third party for its own offers."""
    p = ctx.facts.purpose(key)
    if p is None or within(p.data_use, "third_party_sharing.legal_obligation"):
        return False
    return within(p.data_use, "marketing.communications") or within(
        p.data_use, "third_party_sharing"
    )


def _shine_the_light(ctx: Context) -> Section:
    """Cal. Civ. Code §1798.83: disclosures to third parties for their direct marketing."""
    f = ctx.facts
    direct = [
        r
        for r in ctx.d.recipients
        if r.type == "third_party" and any(_own_marketing(ctx, k) for k in r.purposes)
    ]
    if direct:
        consent = all(
            "consent" in p.legal_basis.lower()
            for r in direct
            for k in r.purposes
            if _own_marketing(ctx, k) and (p := f.purpose(k))
        )
        said = (
            "We disclose personal information to third parties for their own direct "
            + ("marketing, only when you agreed to it, to: " if consent else "marketing, to: ")
            + words.join(r.name for r in direct)
            + "."
        )
    else:
        said = (
            "We do not disclose personal information to third parties for their own "
            "direct marketing."
        )
    return Section(
        "shine-the-light",
        "Disclosures for direct marketing",
        (
            para(
                said,
                " Under California Civil Code section 1798.83 you may ask us, once a year "
                "and free of charge, which personal information we disclosed to third "
                "parties for their direct marketing in the past year, and to whom. Write to ",
                ctx.email(),
                ".",
            ),
        ),
    )


def _rights(ctx: Context) -> Section:
    return Section(
        "california-rights",
        "Your rights under the CCPA",
        (
            para(
                "You have the right to know what personal information we collect, use, "
                "disclose, sell and share, and to get a copy of the specific pieces; to "
                "delete it; to correct it; to opt out of its sale and sharing; to limit "
                "the use of sensitive personal information; and not to be discriminated "
                "against for using these rights. See ",
                anchor("rights", "Your rights"),
                " and ",
                anchor("how-to-ask", "How to make a request"),
                ".",
            ),
        ),
    )
