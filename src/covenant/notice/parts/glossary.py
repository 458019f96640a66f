"""The glossary: the words the statement uses, defined once (seed P3).

The built-in terms cover seed P3's five (aggregate information, cookies,
personal data, usage data, web beacons) and the CCPA words the statement uses.
``statement.glossary`` adds terms or replaces a definition, matched without
regard to case.
"""

from __future__ import annotations

from covenant.notice.document import Definitions, Section, line
from covenant.notice.parts.base import Context

TERMS: dict[str, str] = {
    "Aggregate information": (
        "Information combined with information about other people and analyzed as a "
        "whole, so that no one can be identified, for example “half of our visitors use "
        "a phone”."
    ),
    "Controller": "The business that decides why and how personal information is used.",
    "Cookie": (
        "A small text file a website stores in your browser so that it can recognize the "
        "browser when it comes back. A cookie cannot run programs or carry viruses, and "
        "only the site that set it can read it."
    ),
    "Personal information (personal data)": (
        "Information that identifies you, or can reasonably be linked to you or your "
        "household, alone or with other information. It does not include aggregate "
        "information or information that can no longer be linked to you."
    ),
    "Usage data": (
        "Information about how you use our services, such as your browser type, the pages "
        "you view, how long you stay, and the device you use."
    ),
    "Web beacon (pixel, clear GIF, tracer tag)": (
        "A tiny image or piece of code in a web page or an e-mail that tells its sender "
        "that the page or e-mail was opened."
    ),
    "Service provider": (
        "A company that processes personal information for us under a contract that "
        "forbids any other use."
    ),
    "Third party": (
        "A company that is neither us nor our service provider or contractor; it uses "
        "information under its own privacy statement."
    ),
    "Sell": (
        "To give personal information to a third party for money or other valuable consideration."
    ),
    "Share": (
        "To give personal information to a third party for advertising based on your "
        "activity across other companies' sites and apps."
    ),
    "Sensitive personal information": (
        "Information such as government ID numbers, account log-ins, precise location, "
        "biometric data, health data, or racial or religious information."
    ),
    "Global Privacy Control (GPC)": (
        "A setting in some browsers that tells every site you visit not to sell or share "
        "your personal information."
    ),
    "Do Not Track (DNT)": (
        "An older browser setting asking sites not to track you; no common standard says "
        "what sites must do with it."
    ),
}


def glossary(ctx: Context) -> Section:
    terms = dict(TERMS)
    controller = ctx.org.controller
    terms["Controller"] += f" For this statement, that is {controller}" + (
        "" if controller.endswith(".") else "."
    )
    for term, meaning in ctx.d.statement.glossary.items():
        for existing in [t for t in terms if t.lower() == term.lower()]:
            del terms[existing]
        terms[term] = meaning
    items = tuple((t, line(terms[t])) for t in sorted(terms, key=str.lower))
    return Section("glossary", "Words we use", (Definitions(items),))
