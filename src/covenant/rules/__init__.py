"""Policy-as-code: the built-in rules and the store's own, checked against the declaration.

Owns deciding whether a loaded declaration breaks a promise: the built-in rules
(:mod:`covenant.rules.builtin`: card data, selling and sharing, forbidden
categories, purpose and retention coverage, sensitive data) and the user rules
of ``rules:`` (:mod:`covenant.rules.policy`, evaluated as fideslang evaluates
policies). Every violation carries the rule, where in which file, what is wrong
and how to fix it. Never changes the declaration and never reaches a database;
``covenant check`` prints the violations and exits non-zero. It reads the
declaration through :class:`covenant.notice.facts.Facts`, the same view the
statement uses, so a rule and the sentence it protects cannot disagree.
"""

from __future__ import annotations

from covenant.declaration import Loaded
from covenant.notice.facts import Facts
from covenant.rules.builtin import BUILTIN, BuiltinRule, Scope
from covenant.rules.locate import locator_of
from covenant.rules.policy import evaluate_rules
from covenant.rules.violation import Violation

__all__ = ["BUILTIN", "BuiltinRule", "Violation", "evaluate"]


def evaluate(loaded: Loaded) -> list[Violation]:
    """Every violation of the built-in rules and of the declaration's ``rules:``, in order."""
    scope = Scope(Facts(loaded), locator_of(loaded))
    out = [v for rule in BUILTIN for v in rule.check(scope)]
    out += list(evaluate_rules(scope))
    return out
