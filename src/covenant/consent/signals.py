"""Browser privacy signals: Global Privacy Control and Do Not Track, parsed exactly.

Owns reading the ``Sec-GPC`` and ``DNT`` request header fields into a
:class:`Signals` value, and the body of ``/.well-known/gpc.json``. Pure: no
I/O, no web framework. It must never decide what a signal *means* for a
purpose; that is :mod:`covenant.consent.decisions`, which also knows whether
the declaration honours DNT.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

GPC_HEADER = "sec-gpc"
DNT_HEADER = "dnt"

# RFC 9110 §5.5: optional whitespace (SP / HTAB) around a field value is not
# part of it. Servers and proxies normally strip it already; we strip only
# that, never other characters, so "1 " is "1" but "1;x", "01" and "true" are not.
_OWS = " \t"

# W3C Tracking Preference Expression §5.2: DNT-field-value = ( "0" / "1" ) *DNT-extension,
# where an extension character is any visible ASCII except DQUOTE, comma and backslash.
_DNT = re.compile(r"^([01])[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]*$")


@dataclass(frozen=True, slots=True)
class Signals:
    """What the browser said on this request, before any policy is applied."""

    gpc: bool = False
    """A do-not-sell-or-share preference (GPC spec §3.3)."""
    dnt: bool | None = None
    """True for ``DNT: 1``, False for ``DNT: 0`` (tracking allowed), None when absent or invalid."""


NO_SIGNALS = Signals()
"""A request without any signal: the default for questions asked off the web."""


def gpc(values: Iterable[str]) -> bool:
    """True when the request carries a valid GPC preference.

    ``values`` are the field values of every ``Sec-GPC`` line in the request.
    GPC spec §3.3 ("The Sec-GPC Header Field for HTTP Requests"): the field value
    is exactly the character "1"; a server MUST process a request whose header
    holds anything else as if the header were absent, and with several ``Sec-GPC``
    lines, as present when at least one is exactly "1". The spec deliberately
    has no extension syntax, so nothing is split on commas or otherwise parsed.
    """
    return any(value.strip(_OWS) == "1" for value in values)


def dnt(values: Iterable[str]) -> bool | None:
    """The Do Not Track preference, or None when absent or malformed.

    The TPE grammar allows one field only; with several lines (which a sender
    must not generate), we treat the preference as unknown rather than guess.
    """
    found = [value.strip(_OWS) for value in values]
    if len(found) != 1:
        return None
    match = _DNT.match(found[0])
    return None if match is None else match.group(1) == "1"


def from_headers(getlist: Iterable[tuple[str, str]]) -> Signals:
    """Signals from raw ``(name, value)`` header pairs, names in any case."""
    pairs = [(name.lower(), value) for name, value in getlist]
    return Signals(
        gpc=gpc(value for name, value in pairs if name == GPC_HEADER),
        dnt=dnt(value for name, value in pairs if name == DNT_HEADER),
    )


def gpc_support(last_update: dt.date) -> dict[str, object]:
    """The GPC support resource served at ``/.well-known/gpc.json`` (GPC spec §4).

    ``gpc: true`` states that the site abides by GPC requests at least as far as
    the law obliges it; Covenant always does (the declaration's only GPC setting is
    ``opt_out_of_sale_and_sharing``). ``lastUpdate`` is an RFC 3339 full-date.
    """
    return {"gpc": True, "lastUpdate": last_update.isoformat()}
