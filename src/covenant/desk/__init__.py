"""The request desk: a person's request from the form to the answer (:mod:`.service`)."""

from covenant.desk.service import Desk, DeskError, NotFound

__all__ = ["Desk", "DeskError", "NotFound"]
