"""Your rights, how to use them by each channel, how we verify you, agents, non-discrimination.

Keeps seeds P9, P15-P20, H10 and H27. Rights come from the jurisdictions the
store serves: CCPA §1798.100-.125 for California (know, delete, correct, opt
out, limit, non-discrimination), GDPR Arts. 15-22 and 77 for the EU and UK.
Deadlines: CCPA §1798.130(a)(2) (45 days, once extendable by 45) and GDPR
Art. 12(3) (one month, extendable by two). Verification follows Cal. Code Regs.
tit. 11 §7060-7062 and is what Covenant's request desk does: e-mail proof, two
or three data points matched to records, confirmation, a phone path.
"""

from __future__ import annotations

from covenant.notice.document import Block, Inline, Section, bullets, line, para, table
from covenant.notice.parts.base import Context, anchor
from covenant.notice.parts.choices import nouns_sell_share, words_sell_share

EVERYONE = "Everyone"
CALIFORNIA = "California residents"
EUROPE = "People in the EU and UK"


def rights(ctx: Context) -> Section:
    rows = _rows(ctx)
    blocks: list[Block] = [
        para(
            "You can ask us about the personal information we hold about you. We do "
            "not charge for requests."
        ),
        table("Your rights", ("Right", "What it means", "Who has it"), rows),
    ]
    return Section(
        "rights",
        "Your rights",
        tuple(blocks),
        (_how(ctx), _verification(ctx), _agents(ctx), _fairness()),
    )


def _rows(ctx: Context) -> list[list[str]]:
    f = ctx.facts
    ca = CALIFORNIA if ctx.has("us-ca") else None
    rows = [
        [
            "Know and access",
            "Learn what personal information we hold about you, where it came from, why "
            "we use it and who we gave it to, and get a copy of it.",
            EVERYONE,
        ],
        ["Correct", "Have inaccurate information corrected.", EVERYONE],
        [
            "Delete",
            "Have your information deleted, except what the law or our records require "
            "us to keep; we tell you what we kept and why.",
            EVERYONE,
        ],
        [
            "Take it with you",
            "Get your information in a common, machine-readable format.",
            EVERYONE,
        ],
        ["Stop marketing", "Stop our marketing messages at any time.", EVERYONE],
    ]
    if ca and (f.sells or f.shares):
        verb = words_sell_share(f.sells, f.shares)
        noun = nouns_sell_share(f.sells, f.shares)
        rows.append([f"Opt out of {noun}", f"Tell us not to {verb} your personal information.", ca])
    if ca and _sensitive(ctx):
        rows.append(
            [
                "Limit sensitive information",
                "Limit our use of your sensitive personal information to what is needed "
                "to provide the services you asked for.",
                ca,
            ]
        )
    if ctx.gdpr:
        eu = EUROPE
        rows += [
            ["Restrict", "Have us pause using your information while a question is settled.", eu],
            ["Object", "Object to uses based on our legitimate interests.", eu],
            ["Withdraw consent", "Withdraw consent you gave, at any time.", eu],
            ["Complain", "Complain to your data protection authority.", eu],
        ]
    rows.append(["Fair treatment", "Not be treated differently for using these rights.", EVERYONE])
    return rows


def _sensitive(ctx: Context) -> bool:
    from covenant.notice.ccpa import sensitive

    return bool(sensitive(ctx.facts))


def _how(ctx: Context) -> Section:
    c = ctx.contacts
    items: list[Inline] = []
    form = ctx.form()
    if form:
        items.append(
            line("Online: use the form at ", form, ". We e-mail you to confirm the request.")
        )
    items.append(
        line(
            "By e-mail: write to ",
            ctx.email(),
            ". We reply from that address to verify the request.",
        )
    )
    phone = ctx.phone()
    if phone:
        items.append(
            line(
                "By phone: call ",
                phone,
                ". Our staff record your request and verify your identity with you.",
            )
        )
    if c.postal_address:
        items.append(line(f"By post: write to {c.postal_address}. We answer by e-mail or post."))
    blocks: list[Block] = [para("Make a request in the way that suits you:"), bullets(items)]
    blocks.append(para(_deadlines(ctx)))
    if any(r.hold for r in ctx.d.retention):
        blocks.append(
            para(
                "Deleting is subject to our retention rules (see ",
                anchor("retention", "How long we keep it"),
                "): when we must keep something, we tell you what and why.",
            )
        )
    return Section("how-to-ask", "How to make a request", tuple(blocks))


def _deadlines(ctx: Context) -> str:
    parts = []
    if ctx.has("us-ca") or ctx.has("us"):
        parts.append(
            "within 45 days (we may need up to 45 more days; if so we tell you why within "
            "the first 45)"
        )
    if ctx.gdpr:
        parts.append(
            ("for people in the EU and UK, " if parts else "")
            + "within one month (two more months for complex requests; we tell you "
            "within the first month)"
        )
    if not parts:
        parts.append("within 45 days")
    return "We answer " + "; ".join(parts) + "."


def _verification(ctx: Context) -> Section:
    steps: list[Inline] = [
        line(
            "We send a message to the e-mail address we have for you. Answering it "
            "proves the address is yours."
        ),
        line(
            "We ask for two pieces of information that we match against our records; "
            "three when the information is sensitive or you ask for specific pieces of "
            "it. We use what you give us only to verify you."
        ),
    ]
    if ctx.has("us-ca"):
        steps.append(
            line(
                "For a copy of specific pieces of information, California law also asks "
                "you to sign a declaration that you are the person concerned."
            )
        )
    steps.append(
        line("You confirm what you want us to do, for example “delete my personal information”.")
    )
    if ctx.phone():
        steps.append(line("If we have no e-mail address for you, we verify you by phone."))
    blocks: list[Block] = [
        para("Before we act on a request we check that it comes from you:"),
        bullets(steps),
    ]
    ids = {i.key for i in ctx.d.identities} | ctx.facts.catalog.identity_types()
    if "cookie_id" in ids:
        blocks.append(
            para(
                "You do not need an account. If you only visited our site or followed an "
                "affiliate link, we find your information by the cookie identifier in "
                "your browser or the e-mail address you gave us, and act only after you "
                "confirm the request."
            )
        )
    blocks.append(
        para(
            "If we cannot verify your identity, we tell you promptly and explain why. "
            "We never ask for your password."
        )
    )
    return Section("verification", "How we check it is you", tuple(blocks))


def _agents(ctx: Context) -> Section:
    law = "valid under California law" if ctx.has("us-ca") else "valid where you live"
    return Section(
        "agents",
        "Authorized agents",
        (
            para(
                "Someone you authorize can make a request for you. The agent must give us "
                f"a power of attorney {law}, or a permission that you signed. We may still "
                "ask you to verify your identity with us and to confirm that you gave the "
                "agent permission. Ask us at ",
                ctx.email(),
                " for an agent designation form.",
            ),
        ),
    )


def _fairness() -> Section:
    return Section(
        "non-discrimination",
        "No discrimination",
        (
            para(
                "We will not deny you goods or services, charge you a different price, or "
                "give you a different level of quality because you used your privacy "
                "rights."
            ),
        ),
    )
