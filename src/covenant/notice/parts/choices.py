"""Your choices: marketing, cookies, selling and sharing, location.

Keeps seeds P5 (marketing opt-out at any time), P9 and H13. Each choice is
written only when the declaration gives it something to act on: no marketing
purpose, no marketing paragraph.
"""

from __future__ import annotations

from covenant.notice.document import Block, Section, bullets, line, para
from covenant.notice.facts import within
from covenant.notice.parts.base import Context, anchor


def choices(ctx: Context) -> Section:
    f = ctx.facts
    items = []
    marketing = [p for p in ctx.d.purposes if within(p.data_use, "marketing.communications")]
    if marketing:
        consent = any("consent" in p.legal_basis.lower() for p in marketing)
        items.append(
            line(
                "Marketing messages. ",
                "We send offers only on the channels you agreed to (e-mail, post, phone "
                "or text message). "
                if consent
                else None,
                "You can stop them at any time: use the unsubscribe link in any message, "
                "change your choices ",
                ctx.form("online") or "in your account",
                ", or contact us.",
            )
        )
    if ctx.d.trackers:
        items.append(
            line(
                "Cookies. Allow or refuse each type of cookie in our cookie preferences, "
                "linked at the foot of every page; see ",
                anchor("cookies", "Cookies and similar technologies"),
                ".",
            )
        )
    if f.sells or f.shares:
        verb = words_sell_share(f.sells, f.shares)
        items.append(
            line(
                f"Do not {verb} my personal information. Tell us ",
                ctx.form("online") or "by e-mail",
                ", or turn on Global Privacy Control in your browser; see ",
                anchor("signals", "Do Not Track and Global Privacy Control"),
                ".",
            )
        )
    if any(within(c, "user.location.precise") for c in f.categories):
        items.append(
            line(
                "Location. Turn off location access for our app in your phone's settings "
                "and we stop collecting your precise location."
            )
        )
    blocks: list[Block] = [para("You decide how we use your information in these ways:")]
    blocks.append(bullets(items))
    blocks.append(
        para(
            "To see, correct, export or delete your information, see ",
            anchor("rights", "Your rights"),
            ".",
        )
    )
    return Section("choices", "Your choices", tuple(blocks))


def words_sell_share(sells: bool, shares: bool) -> str:
    return "sell or share" if sells and shares else "sell" if sells else "share"


def nouns_sell_share(sells: bool, shares: bool) -> str:
    return "sale and sharing" if sells and shares else "sale" if sells else "sharing"
