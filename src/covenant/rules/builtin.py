"""The rules every declaration must keep, whatever its own ``rules:`` say.

Each rule is a small function from a :class:`Scope` to violations, registered
with its key, the promise it keeps and the standard that decides it. Two
further checks from the issue live in the loader because nothing can run
without them: every personal field has an erasure strategy, and every
collection can be reached from an identity (see
:mod:`covenant.declaration.validate`). Pure: reads the loaded declaration only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from covenant.declaration.catalog import CollectionInfo, FieldInfo
from covenant.declaration.locate import Locator
from covenant.notice.facts import Facts, overlaps, within
from covenant.rules.violation import Violation


@dataclass(frozen=True)
class Scope:
    facts: Facts
    locator: Locator


Check = Callable[[Scope], Iterator[Violation]]


@dataclass(frozen=True, slots=True)
class BuiltinRule:
    key: str
    title: str
    basis: str
    """The standard or seed promise the rule keeps."""
    check: Check


BUILTIN: list[BuiltinRule] = []


def rule(key: str, title: str, basis: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        BUILTIN.append(BuiltinRule(key, title, basis, check))
        return check

    return register


def _fields(scope: Scope) -> Iterator[tuple[CollectionInfo, FieldInfo]]:
    for coll in scope.facts.catalog.collections.values():
        for f in coll.fields.values():
            yield coll, f


# -- Payment cards -----------------------------------------------------------------

CVC_LAST = {
    "security_code", "cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "cav2",
    "card_verification_code", "card_verification_value", "verification_code",
}  # fmt: skip
CVC_NAME = re.compile(
    r"^(card_?)?(cvv2?|cvc2?|cid|csc|cav2|security_?code|verification_?(code|value))$", re.I
)
PAN_LAST = {"number", "pan", "card_number", "primary_account_number", "full_number"}
PAN_NAME = re.compile(r"^(card_?number|cc_?num(ber)?|pan|credit_?card(_?number)?|card_?pan)$", re.I)
CARD_ROOTS = ("user.financial", "user.payment")


def _card_category(category: str, last: set[str]) -> bool:
    return any(within(category, r) for r in CARD_ROOTS) and category.rsplit(".", 1)[-1] in last


@rule(
    "no_card_security_code",
    "No field holds a card security code",
    "PCI DSS 4.0 Req. 3.3.1.2: the card verification code is not kept after authorization",
)
def no_card_security_code(scope: Scope) -> Iterator[Violation]:
    for coll, f in _fields(scope):
        cats = [c for c in f.categories if _card_category(c, CVC_LAST)]
        if not cats and not CVC_NAME.match(f.name):
            continue
        why = (
            f"is categorized as a card security code ({', '.join(cats)})"
            if cats
            else ("is named like a card security code")
        )
        yield Violation.at(
            "no_card_security_code",
            scope.locator.in_dataset(coll.key, f.name, ""),
            f"{coll.key}.{f.name} {why}; a store must never keep it (PCI DSS 4.0 Req. 3.3.1.2)",
            "drop the column: the payment processor checks the code and nobody stores it",
        )


@rule(
    "no_full_card_number",
    "No field holds a full card number; only the processor's token and the last four digits",
    "PCI DSS 4.0 Req. 3.5.1 (PAN unreadable wherever stored); seed H5",
)
def no_full_card_number(scope: Scope) -> Iterator[Violation]:
    for coll, f in _fields(scope):
        exact = [c for c in f.categories if c == "user.financial.credit_card"]
        pan = [c for c in f.categories if _card_category(c, PAN_LAST)]
        if not (exact or pan or PAN_NAME.match(f.name)):
            continue
        if exact:
            why = (
                "is categorized user.financial.credit_card, which covers the full card "
                "number; say what it really holds"
            )
        elif pan:
            why = f"is categorized as a card number ({', '.join(pan)})"
        else:
            why = "is named like a card number"
        yield Violation.at(
            "no_full_card_number",
            scope.locator.in_dataset(coll.key, f.name, ""),
            f"{coll.key}.{f.name} {why}",
            "store the processor's token (a category such as user.payment.card_token) and at "
            "most the last four digits (such as user.financial.credit_card.last_four)",
        )


# -- Selling and sharing ----------------------------------------------------------------


@rule(
    "no_undeclared_sale_or_share",
    "No recipient receives data as a sale or share the organization says it does not make",
    "CCPA §1798.120, §1798.135; seed P14",
)
def no_undeclared_sale_or_share(scope: Scope) -> Iterator[Violation]:
    org = scope.facts.declaration.organization
    for i, r in enumerate(scope.facts.declaration.recipients):
        if r.sale and not org.sells_personal_information:
            yield Violation.at(
                "no_undeclared_sale_or_share",
                scope.locator.at(("recipients", i, "sale"), ""),
                f"recipient '{r.key}' receives data as a sale, but the organization says it "
                "does not sell personal information",
                "stop the sale (sale: false), or set organization.sells_personal_information: "
                "true so the statement says so and offers the opt-out",
            )
        if r.share and not org.shares_personal_information:
            yield Violation.at(
                "no_undeclared_sale_or_share",
                scope.locator.at(("recipients", i, "share"), ""),
                f"recipient '{r.key}' receives data as sharing for cross-context behavioral "
                "advertising, but the organization says it does not share",
                "stop the sharing (share: false), or set "
                "organization.shares_personal_information: true",
            )


@rule(
    "advertising_trackers_are_sharing",
    "Another company's advertising tracker means the store shares personal information",
    "CCPA §1798.140(ah) (cross-context behavioral advertising); seeds P7, P14",
)
def advertising_trackers_are_sharing(scope: Scope) -> Iterator[Violation]:
    d = scope.facts.declaration
    if scope.facts.shares:
        return
    own = {d.organization.name.lower(), d.organization.controller.lower()}
    for i, t in enumerate(d.trackers):
        if t.category == "advertising" and t.vendor.lower() not in own:
            yield Violation.at(
                "advertising_trackers_are_sharing",
                scope.locator.at(("trackers", i, "category"), ""),
                f"tracker '{t.key}' lets {t.vendor} collect browsing data for advertising, "
                "which is sharing, but the declaration says the store does not share",
                "set organization.shares_personal_information: true and declare the vendor "
                "as a recipient with share: true, or remove the tracker",
            )


# -- Recipients ---------------------------------------------------------------------------


@rule(
    "no_forbidden_categories",
    "No recipient receives a category the declaration promises it never gets",
    "seed H14 (marketing partners never get phone, card data or e-mail)",
)
def no_forbidden_categories(scope: Scope) -> Iterator[Violation]:
    for i, r in enumerate(scope.facts.declaration.recipients):
        for j, cat in enumerate(r.categories):
            hit = sorted(f for f in r.forbidden_categories if overlaps(cat, f))
            if hit:
                yield Violation.at(
                    "no_forbidden_categories",
                    scope.locator.at(("recipients", i, "categories", j), ""),
                    f"recipient '{r.key}' receives '{cat}', which the statement promises it "
                    f"never gets ({', '.join(hit)})",
                    "remove the category, or replace it by narrower ones outside "
                    "forbidden_categories",
                )


# -- Purpose and retention ------------------------------------------------------------------


def _covered_by_purpose(scope: Scope, collection: str, category: str) -> bool:
    for p in scope.facts.declaration.purposes:
        if collection in p.collections and (
            not p.categories or any(within(category, c) for c in p.categories)
        ):
            return True
    return False


@rule(
    "personal_data_has_purpose",
    "Every personal-data field has a purpose",
    "GDPR Art. 5(1)(b), Art. 30(1)(b); CCPA §1798.100(c)",
)
def personal_data_has_purpose(scope: Scope) -> Iterator[Violation]:
    for key, cats in scope.facts.collected.items():
        coll = scope.facts.catalog.collections[key]
        missing = [
            f.name
            for f in coll.personal_fields
            if not all(_covered_by_purpose(scope, key, c) for c in f.categories if c in cats)
        ]
        if missing:
            yield Violation.at(
                "personal_data_has_purpose",
                scope.locator.in_dataset(key, None, ""),
                f"{key}: personal data with no purpose: {', '.join(missing)}",
                f"list '{key}' in a purpose's collections (and, if that purpose names "
                "categories, include these fields' categories)",
            )


def _retained(scope: Scope, collection: str, bounded: bool) -> bool:
    d = scope.facts.declaration
    if any(collection in r.collections for r in d.retention):
        return True
    return any(collection in k.collections and (k.at_most or not bounded) for k in d.kept_until)


@rule(
    "personal_data_has_retention",
    "Every personal-data field has a retention rule",
    "GDPR Art. 5(1)(e), Art. 30(1)(f); CCPA §1798.100(a)(3); seed H26",
)
def personal_data_has_retention(scope: Scope) -> Iterator[Violation]:
    for key in scope.facts.collected:
        if not _retained(scope, key, bounded=False):
            yield Violation.at(
                "personal_data_has_retention",
                scope.locator.in_dataset(key, None, ""),
                f"{key}: personal data with no retention rule",
                f"add '{key}' to a retention rule (a fixed period) or to kept_until "
                "(until an event, such as the account's closure)",
            )


SENSITIVE = (
    "user.biometric",
    "user.location.precise",
    "user.health_and_medical",
    "user.government_id",
    "user.demographic.race_ethnicity",
    "user.demographic.religious_belief",
    "user.demographic.sexual_orientation",
    "user.demographic.political_opinion",
)
"""Special and sensitive categories: GDPR Art. 9(1) and CCPA §1798.140(ae)."""


@rule(
    "sensitive_data_purpose_and_retention",
    "Sensitive categories have a declared purpose and a bounded retention",
    "GDPR Art. 9, Art. 5(1)(e); CCPA §1798.121, §1798.140(ae)",
)
def sensitive_data_purpose_and_retention(scope: Scope) -> Iterator[Violation]:
    for key, cats in scope.facts.collected.items():
        sensitive = sorted(c for c in cats if any(within(c, s) for s in SENSITIVE))
        if not sensitive:
            continue
        where = scope.locator.in_dataset(key, None, "")
        unexplained = [c for c in sensitive if not _covered_by_purpose(scope, key, c)]
        if unexplained:
            yield Violation.at(
                "sensitive_data_purpose_and_retention",
                where,
                f"{key}: sensitive data ({', '.join(unexplained)}) with no declared purpose",
                f"list '{key}' in the purpose that needs this data",
            )
        if not _retained(scope, key, bounded=True):
            yield Violation.at(
                "sensitive_data_purpose_and_retention",
                where,
                f"{key}: sensitive data ({', '.join(sensitive)}) with no time limit",
                f"add '{key}' to a retention rule, or give its kept_until entry an at_most",
            )
