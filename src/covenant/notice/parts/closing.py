"""The closing sections: copyright notices, outside links, changes and the change log.

Keeps seeds H24 (outside links), H25 (the copyright agent and the six elements
of a notice under 17 U.S.C. §512(c)(3)(A)), P23 and H28 (how changes are
announced; the public change log of published versions).
"""

from __future__ import annotations

import datetime as dt

from covenant.notice import words
from covenant.notice.document import Block, Section, bullets, para, table
from covenant.notice.parts.base import Context

DMCA_ELEMENTS = (
    "a physical or electronic signature of the person authorized to act for the copyright owner;",
    "a description of the copyrighted work you believe was infringed;",
    "the web address of the material on our site that you believe infringes it;",
    "your address, telephone number and e-mail address;",
    "a statement that you believe in good faith that the use is not authorized by the "
    "copyright owner, its agent or the law;",
    "a statement, made under penalty of perjury, that the information in your notice is "
    "accurate and that you are the copyright owner or authorized to act for the owner.",
)

CHANNELS = {
    "website_notice": "a notice on our website",
    "email": "e-mail",
    "account_notice": "a notice in your account",
    "push_message": "a message in our app",
}


def copyright_notice(ctx: Context) -> Section | None:
    agent = ctx.contacts.copyright_agent
    if not agent:
        return None
    return Section(
        "copyright",
        "Copyright complaints",
        (
            para(
                "If you believe content on our site infringes your copyright, send a notice "
                "under the Digital Millennium Copyright Act (17 U.S.C. §512(c)) to our "
                f"copyright agent: {agent}. The notice must contain:"
            ),
            bullets(DMCA_ELEMENTS),
        ),
    )


def outside_links() -> Section:
    return Section(
        "links",
        "Links to other sites",
        (
            para(
                "Our site links to sites we do not control, such as those of our partners "
                "and advertisers. This statement does not cover them, and they may collect "
                "information under their own privacy statements. We do not give them your "
                "personal information when you follow a link."
            ),
        ),
    )


def changes(ctx: Context) -> Section:
    st = ctx.d.statement
    channels = words.join([CHANNELS[c] for c in st.change_channels], "or")
    again = ", and ask for your consent again the next time you sign in"
    told = (
        f"We tell you about material changes by {channels} before they take effect"
        + (again if st.reconsent_on_material_change else "")
        + "."
    )
    blocks: list[Block] = [
        para(
            "When we change this statement, we publish the new version on this page with "
            "its effective date and list what changed below. A change is material when we "
            "start collecting a new kind of information, use it for a new purpose, give it "
            "to a new recipient, or start selling or sharing it. " + told
        )
    ]
    if ctx.history:
        rows = [
            [
                f"Version {v.number}",
                words.date(dt.date.fromisoformat(v.effective_date)),
                "; ".join(c.text for c in v.changes) or "—",
                "Yes" if v.material else "No",
            ]
            for v in reversed(ctx.history)
        ]
        blocks.append(
            table("Change log", ("Version", "Effective", "What changed", "Material"), rows)
        )
    return Section("changes", "Changes to this statement", tuple(blocks))
