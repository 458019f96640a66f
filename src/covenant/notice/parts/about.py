"""The opening: who is responsible, what the statement covers, and how to reach us.

Keeps seeds P1 (other formats), P2 (a named controller; part of the terms of
use), P24 and H1 (contacts by e-mail, post and phone; effective date, which the
document header shows). Cal. Code Regs. tit. 11 §7011(e)(6)-(7).
"""

from __future__ import annotations

from covenant.notice.document import Definitions, Inline, Link, Section, line, para
from covenant.notice.parts.base import Context


def about(ctx: Context) -> Section:
    org = ctx.org
    st = ctx.d.statement
    blocks = [
        para(
            f"This statement explains what personal information {org.name} collects about "
            "you, why we use it, who we share it with, how long we keep it, and the "
            "choices and rights you have."
        ),
        para(
            f"{org.controller} is responsible for your personal information (the “controller”). ",
            "This statement is part of our " if st.terms_url else None,
            Link("terms of use", st.terms_url) if st.terms_url else None,
            "." if st.terms_url else None,
        ),
    ]
    if st.intro:
        blocks.append(para(st.intro))
    blocks.append(
        para(
            "This statement is also available as plain text and prints cleanly. If you "
            "need it in another format because of a disability, write to ",
            ctx.email(),
            " and we will provide it.",
        )
    )
    return Section("about", "About this statement", tuple(blocks))


def contact(ctx: Context) -> Section:
    c = ctx.contacts
    items: list[tuple[str, Inline]] = [
        ("Controller", line(ctx.org.controller)),
        ("E-mail", line(ctx.email())),
    ]
    phone = ctx.phone()
    if phone:
        items.append(("Phone", line(phone)))
    if c.postal_address:
        items.append(("Post", line(c.postal_address)))
    form = ctx.form()
    if form:
        items.append(("Online", line(form)))
    if c.security_email:
        items.append(
            (
                "Security problems",
                line(
                    Link(c.security_email, f"mailto:{c.security_email}"),
                    " (encrypt with our " if c.security_pgp_key else None,
                    Link("OpenPGP key", c.security_pgp_key) if c.security_pgp_key else None,
                    ")" if c.security_pgp_key else None,
                ),
            )
        )
    if c.copyright_agent:
        items.append(("Copyright agent", line(c.copyright_agent)))
    return Section(
        "contact",
        "How to contact us",
        (
            para("Questions about this statement or your information are welcome:"),
            Definitions(tuple(items)),
        ),
    )
