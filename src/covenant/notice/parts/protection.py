"""Security, international transfers, children, and browser privacy signals.

Keeps seeds P10, P11, P12, P22, H2, H3, H20, H21 and S3's published contact.
Transfers are read from where systems and recipients say they hold data (GDPR
Art. 13(1)(f) and Art. 46 safeguards). The DNT sentence says exactly what the
declaration says; GPC is treated as an opt-out of sale and sharing (Cal. Code
Regs. tit. 11 §7025).
"""

from __future__ import annotations

from covenant.notice import words
from covenant.notice.document import Block, Link, Section, bullets, para, table
from covenant.notice.facts import EEA
from covenant.notice.parts.base import Context


def security(ctx: Context) -> Section:
    measures = ctx.d.security.measures
    blocks: list[Block] = []
    if measures:
        blocks += [para("We protect personal information with these measures:"), bullets(measures)]
    else:
        blocks.append(
            para(
                "We protect personal information with administrative, technical and "
                "physical safeguards."
            )
        )
    blocks.append(
        para(
            "No website or system is perfectly secure, so we cannot promise that your "
            "information will never be exposed. If something goes wrong, we will tell "
            "you as the law requires."
        )
    )
    c = ctx.contacts
    if c.security_email:
        blocks.append(
            para(
                "To report a security problem, write to ",
                Link(c.security_email, f"mailto:{c.security_email}"),
                ". You can encrypt your report with our " if c.security_pgp_key else None,
                Link("OpenPGP key", c.security_pgp_key) if c.security_pgp_key else None,
                ". Please leave out personal or sensitive information that the report does "
                "not need. A member of our staff acknowledges every report.",
            )
        )
    return Section("security", "How we protect it", tuple(blocks))


def transfers(ctx: Context) -> Section:
    f = ctx.facts
    by_place: dict[str, list[tuple[str, str]]] = {}
    for t in f.transfers():
        by_place.setdefault(t.place.upper(), []).append((t.holder, t.safeguards))
    rows = []
    for place, holders in by_place.items():
        safeguards = list(dict.fromkeys(s for _, s in holders if s))
        rows.append(
            [
                words.upper_first(words.place(place)),
                ", ".join(dict.fromkeys(h for h, _ in holders)),
                "; ".join(safeguards) if safeguards else "—",
            ]
        )
    blocks: list[Block] = [
        para("We and the recipients listed above hold personal information in these places:"),
        table(
            "Where personal information is processed", ("Place", "Who holds it", "Safeguards"), rows
        ),
    ]
    home = f.places()[0] if f.places() else "US"
    if not ctx.gdpr:
        blocks.append(
            para(
                f"Our services are meant for people in {words.place(home)}. Information you "
                f"send us is stored on servers in {words.place(home)} and governed by its "
                "laws. If you are in the European Union, please do not send us personal "
                "information."
            )
        )
    else:
        outside = [p for p in by_place if p not in EEA]
        if outside:
            blocks.append(
                para(
                    "Personal information from the European Union or the United Kingdom may "
                    "be transferred to "
                    + words.join(words.place(p) for p in outside)
                    + ", where data protection laws may differ. We protect those transfers "
                    "with the safeguards listed above (GDPR Article 46). Ask us for a copy."
                )
            )
    return Section("transfers", "Where your information is processed", tuple(blocks))


def children(ctx: Context) -> Section:
    age = ctx.org.minimum_age
    blocks: list[Block] = [
        para(
            f"Our services are not meant for anyone under {age}. We do not knowingly "
            f"collect personal information from anyone under {age}; if you are under "
            f"{age}, please do not send us any. If you believe we have information about "
            "a child, write to ",
            ctx.email(),
            " and we will delete it.",
        )
    ]
    f = ctx.facts
    if ctx.has("us-ca") and (f.sells or f.shares) and age >= 16:
        blocks.append(
            para(
                "We do not knowingly sell or share the personal information of consumers under 16."
            )
        )
    return Section("children", "Children", tuple(blocks))


def signals(ctx: Context) -> Section:
    f = ctx.facts
    if ctx.org.dnt == "honoured":
        dnt = (
            "When your browser sends a Do Not Track (DNT) signal, we treat it like Global "
            "Privacy Control, below."
        )
    else:
        dnt = (
            "Our site does not change what it does when your browser sends a Do Not Track "
            "(DNT) signal, and we do not require the companies whose cookies are on our site "
            "to respond to it."
        )
    gpc = (
        "We treat a Global Privacy Control (GPC) signal from your browser as a request to "
        "opt out of the sale and sharing of your personal information, for that browser "
        "and, when you are signed in, for your account."
    )
    if not (f.sells or f.shares):
        gpc += " We do not sell or share personal information, but we record the signal."
    return Section("signals", "Do Not Track and Global Privacy Control", (para(dnt), para(gpc)))
