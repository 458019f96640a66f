"""Cookies, pixels and SDKs, taken from the declared trackers, with their opt-outs.

Keeps seeds P6, P7, H19 and H20 (and S5's preferences): every tracker is listed
with who sets it, why, for how long and how to turn it off; advertising
trackers add the interest-based advertising notice with the industry opt-outs.
"""

from __future__ import annotations

from covenant.declaration.model import Tracker
from covenant.notice import words
from covenant.notice.document import Block, Inline, Link, Section, line, para, table
from covenant.notice.parts.base import Context

INDUSTRY_OPT_OUTS = (
    Link("Network Advertising Initiative opt-out", "https://optout.networkadvertising.org/"),
    Link("Digital Advertising Alliance opt-out", "https://optout.aboutads.info/"),
)


def cookies(ctx: Context) -> Section | None:
    trackers = ctx.d.trackers
    if not trackers:
        return None
    rows = [
        [
            line(t.name),
            line(t.vendor),
            line(words.TRACKER_CATEGORIES[t.category]),
            line(t.purpose),
            line(t.lifetime),
            _opt_out(t),
        ]
        for t in trackers
    ]
    blocks: list[Block] = [
        para(
            "We and the companies named below use cookies, pixels (also called web "
            "beacons or tracer tags) and similar technologies. "
            + (
                "Strictly necessary ones are always on, because the site cannot work without them. "
                if any(t.category == "strictly_necessary" for t in trackers)
                else ""
            )
            + "You choose whether to allow the others in our cookie preferences, and you "
            "can change your choice at any time."
        ),
        table(
            "Cookies and similar technologies",
            ("Name", "Set by", "Type", "What it does", "How long it lasts", "How to turn it off"),
            rows,
        ),
        para(
            "Most browsers also let you refuse or delete cookies. If you block strictly "
            "necessary cookies, parts of the site, such as signing in, will not work."
        ),
    ]
    subsections = []
    ads = [t for t in trackers if t.category == "advertising"]
    if ads:
        subsections.append(_interest_based(ads))
    return Section("cookies", "Cookies and similar technologies", tuple(blocks), tuple(subsections))


def _opt_out(t: Tracker) -> Inline:
    if t.category == "strictly_necessary":
        return line("Always on: the site needs it")
    if t.opt_out_url:
        return line("Cookie preferences, or ", Link(f"opt out with {t.vendor}", t.opt_out_url))
    return line("Cookie preferences")


def _interest_based(ads: list[Tracker]) -> Section:
    vendors = words.join(dict.fromkeys(t.vendor for t in ads))
    return Section(
        "interest-based-ads",
        "Interest-based advertising",
        (
            para(
                f"Advertising companies ({vendors}) may collect information about your "
                "visits to our site and to other sites, to show you ads for our products "
                "that match your interests. They are off until you allow them."
            ),
            para(
                "You can opt out in our cookie preferences, with each company (links "
                "above), or for many companies at once with the ",
                INDUSTRY_OPT_OUTS[0],
                " or the ",
                INDUSTRY_OPT_OUTS[1],
                ". On a phone, use the “Limit ad tracking” or “Opt out of ads "
                "personalization” setting. Opting out does not stop ads; it stops ads "
                "chosen from your activity. An opt-out is stored in a cookie, so it must "
                "be repeated in each browser and after you delete cookies.",
            ),
        ),
    )
