"""How long each kind of record is kept, why, and what happens then.

Keeps seeds H26 and H27 and CCPA §1798.100(a)(3) (how long each category is
kept). Rows come from the retention rules (a fixed period: a hold the law
requires, GDPR Art. 17(3)(b), or only a limit) and from ``kept_until`` (until an
event); collections with neither are named honestly as kept "as long as needed".
"""

from __future__ import annotations

from covenant.declaration.model import KeptUntil, RetentionRule
from covenant.notice import words
from covenant.notice.document import Block, Section, para, table
from covenant.notice.parts.base import Context

THEN = {"delete": "Deleted", "anonymize": "Anonymized: what is left no longer identifies you"}


def retention(ctx: Context) -> Section:
    f = ctx.facts
    rows = [_fixed(ctx, r) for r in ctx.d.retention]
    rows += [_until(ctx, k) for k in ctx.d.kept_until]
    covered = {c for r in ctx.d.retention for c in r.collections} | {
        c for k in ctx.d.kept_until for c in k.collections
    }
    rest = [k for k in f.collected if k not in covered]
    if rest:
        rows.append(
            [
                _names(ctx, rest),
                "As long as we need it for the purposes above",
                "—",
                "Deleted when no longer needed, or when you ask us",
            ]
        )
    blocks: list[Block] = [
        para("We keep personal information only as long as we need it:"),
        table(
            "How long we keep personal information", ("Records", "How long", "Why", "Then"), rows
        ),
    ]
    if any(r.hold for r in ctx.d.retention):
        blocks.append(
            para(
                "When you ask us to delete your information, we delete it, except records "
                "that the law requires us to keep for a period marked “must keep” above; "
                "we tell you which and why, and delete them when the period ends."
            )
        )
    return Section("retention", "How long we keep it", tuple(blocks))


def _names(ctx: Context, collections: list[str]) -> str:
    return words.upper_first(words.join(ctx.facts.collection_name(c).lower() for c in collections))


def _fixed(ctx: Context, rule: RetentionRule) -> list[str]:
    period = f"{words.duration(rule.duration)}, counted from {ctx.facts.anchor_words(rule)}"
    return [
        _names(ctx, rule.collections),
        # A hold is kept even against an erasure request; a limit is only an upper bound.
        f"We must keep them {period}" if rule.hold else f"At most {period}",
        rule.legal_basis,
        THEN[rule.action],
    ]


def _until(ctx: Context, rule: KeptUntil) -> list[str]:
    bound = f", and never more than {words.duration(rule.at_most)}" if rule.at_most else ""
    return [
        _names(ctx, rule.collections),
        f"Until {rule.event}{bound}",
        rule.legal_basis or "—",
        THEN[rule.action],
    ]
