"""The one exception root.

Every error Covenant raises on purpose derives from :class:`CovenantError`. A
subclass's docstring is its default message, so callers raise the class bare
when they have nothing to add. ``exit_code`` is what the command line returns;
the web layer (later) maps ``status`` in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


class CovenantError(Exception):
    """Covenant could not do what was asked."""

    exit_code = 1
    status = 500

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a declaration, located for the person who must fix it."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class DeclarationError(CovenantError):
    """The declaration is not valid."""

    exit_code = 2
    status = 400

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the declaration"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems))


class IdentityError(CovenantError):
    """The identity given for the request is not usable."""

    exit_code = 2
    status = 400


class ConnectorError(CovenantError):
    """A store database could not be reached or refused the work."""

    exit_code = 3
    status = 502


class ErasureIncomplete(CovenantError):
    """Erasable personal data remains after the erasure ran."""

    exit_code = 4
    status = 500


class CorrectionError(CovenantError):
    """The correction cannot be applied as given."""

    exit_code = 2
    status = 400
