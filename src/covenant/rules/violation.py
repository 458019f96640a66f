"""A broken rule, located for the person who must fix it."""

from __future__ import annotations

from dataclasses import dataclass

from covenant.errors import Problem


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    """The rule's key: a built-in one (``no_card_security_code``) or one from ``rules:``."""
    path: str
    """``file:line key.path``: where the declaration breaks the rule."""
    message: str
    fix: str
    """What to change so the rule holds."""
    file: str
    line: int | None
    key_path: str

    @classmethod
    def at(cls, rule: str, where: Problem, message: str, fix: str) -> Violation:
        place = f"{where.file}:{where.line}" if where.line else where.file
        path = f"{place} {where.path}" if where.path else place
        return cls(rule, path, message, fix, where.file, where.line, where.path)

    def __str__(self) -> str:
        return f"{self.path}: [{self.rule}] {self.message}\n    fix: {self.fix}"
