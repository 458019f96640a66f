"""The statement side of the declaration: privacy statement, versions, security.txt, records.

Owns everything Covenant publishes *about* the store's processing: the privacy
statement (HTML, Markdown, text) with its California tables, published versions
and their diff in words, security.txt (RFC 9116), the GDPR Art. 30(1) record of
processing, and the data-flow diagram. Rendering is pure and deterministic;
only :mod:`~covenant.notice.store`, :mod:`~covenant.notice.page` (reading published
versions), :mod:`~covenant.notice.ropa_xlsx` (writing) and :mod:`~covenant.notice.cli`
touch files.
Never changes the declaration and never reaches a store database.
"""

from covenant.notice.document import Document
from covenant.notice.render import FORMATS, Format, render
from covenant.notice.statement import build
from covenant.notice.versions import Change, Version, diff, needs_reconsent, snapshot

__all__ = [
    "FORMATS",
    "Change",
    "Document",
    "Format",
    "Version",
    "build",
    "diff",
    "needs_reconsent",
    "render",
    "snapshot",
]
