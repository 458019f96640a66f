"""The statement page the web app serves at ``/privacy/statement``, and security.txt.

The only reading this does is of the published versions, for the public change
log (seed H28). The web layer calls these and sets the response's media type;
nothing here knows about HTTP.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from covenant.declaration import Loaded
from covenant.notice.render import Format, css, render
from covenant.notice.securitytxt import security_txt
from covenant.notice.statement import build
from covenant.notice.store import VersionStore, default_folder

MEDIA_TYPES: dict[str, str] = {
    "css": "text/css; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}


STYLESHEET = "/privacy/statement.css"
"""Where the web app serves :func:`statement_css`: its CSP forbids inline style."""


def statement_page(
    loaded: Loaded,
    fmt: Format = "html",
    versions: Path | None = None,
    stylesheet: str | None = None,
) -> str:
    """The statement with its change log; ``versions`` defaults to ``statement-versions/``.

    ``stylesheet`` links the style sheet at that URL instead of inlining it: the web
    app passes :data:`STYLESHEET` and serves :func:`statement_css` there.
    """
    history = VersionStore(versions or default_folder(loaded)).versions()
    return render(build(loaded, history), fmt, stylesheet)


def statement_css() -> str:
    """The statement's style sheet (``text/css; charset=utf-8``)."""
    return css()


def security_txt_page(loaded: Loaded, now: dt.datetime | None = None) -> str:
    """security.txt as of ``now`` (default: the current time); serve as ``text/plain``."""
    return security_txt(loaded, now or dt.datetime.now(dt.UTC))
