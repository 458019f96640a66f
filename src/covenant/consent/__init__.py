"""Consent: browser signals, the append-only ledger, decisions, receipts and the API.

``signals``, ``records``, ``decisions`` and ``receipt`` are pure; ``ledger``
holds the table and the only code that writes it; ``engine`` joins them for
the store's questions; ``web`` is the HTTP face.
"""

from covenant.consent.decisions import Decision, Policy, decide
from covenant.consent.engine import ConsentEngine, ConsentRefused, Submission
from covenant.consent.ledger import ConsentLedger
from covenant.consent.records import Choice, ConsentError, ConsentRecord, Method, Topic
from covenant.consent.signals import Signals

__all__ = [
    "Choice",
    "ConsentEngine",
    "ConsentError",
    "ConsentLedger",
    "ConsentRecord",
    "ConsentRefused",
    "Decision",
    "Method",
    "Policy",
    "Signals",
    "Submission",
    "Topic",
    "decide",
]
