"""Errors of the statement side: what cannot be published or written as asked."""

from __future__ import annotations

from covenant.errors import CovenantError


class NoticeError(CovenantError):
    """The statement, security.txt or record of processing cannot be produced as asked."""

    exit_code = 2
    status = 400
