"""Policy-as-code: every built-in rule with passing and failing declarations, and user rules.

Each test writes a small declaration (``BASE`` plus one change) and loads it, so
violations are located in a real file. User rules follow fideslang's policy
evaluation; ``offending`` is tested against its four match modes directly.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from covenant.declaration import Loaded, load
from covenant.declaration.model import Match
from covenant.errors import DeclarationError
from covenant.rules import BUILTIN, Violation, evaluate
from covenant.rules.locate import locator_of
from covenant.rules.policy import offending

Change = Callable[[dict[str, Any]], None]

BASE: dict[str, Any] = {
    "version": 1,
    "organization": {
        "name": "Test Shop",
        "controller": "Test Shop Ltd.",
        "contacts": {"privacy_email": "privacy@shop.example"},
        "minimum_age": 16,
        "effective_date": "2026-01-01",
    },
    "systems": [{"key": "db", "name": "Shop database"}],
    "datasets": [
        {
            "system": "db",
            "dataset": {
                "fides_key": "t",
                "collections": [
                    {
                        "name": "customers",
                        "fields": [
                            {"name": "id", "data_categories": ["user.unique_id"],
                             "fides_meta": {"primary_key": True}},
                            {"name": "email", "data_categories": ["user.contact.email"],
                             "fides_meta": {"identity": "email"}},
                            {"name": "phone", "data_categories": ["user.contact.phone_number"]},
                        ],
                    },
                    {
                        "name": "payments",
                        "fields": [
                            {"name": "id", "data_categories": ["system.operations"],
                             "fides_meta": {"primary_key": True}},
                            {"name": "customer_id", "data_categories": ["user.unique_id"],
                             "fides_meta": {"references": [
                                 {"dataset": "t", "field": "customers.id", "direction": "from"}]}},
                            {"name": "token", "data_categories": ["user.payment"]},
                            {"name": "paid_at", "data_categories": ["user.behavior.purchase_history"]},
                        ],
                    },
                ],
            },
        }
    ],
    "subjects": [{"key": "customer", "name": "Customers", "collections": ["t.customers", "t.payments"]}],
    "purposes": [
        {"key": "orders", "name": "Orders", "description": "Take payment.",
         "data_use": "essential.service.payment_processing",
         "collections": ["t.customers", "t.payments"]},
        {"key": "marketing", "name": "Marketing", "description": "Send offers.",
         "data_use": "marketing.communications", "collections": ["t.customers"]},
    ],
    "recipients": [
        {"key": "partner", "name": "Partner", "type": "third_party", "purposes": ["marketing"],
         "categories": ["user.unique_id"]},
        {"key": "processor", "name": "Processor", "type": "service_provider",
         "purposes": ["orders"], "categories": ["user.payment"]},
    ],
    "retention": [{"key": "tax", "collections": ["t.payments"], "duration": "7 years",
                   "anchor": "paid_at", "legal_basis": "Tax law"}],
    "kept_until": [{"key": "account", "collections": ["t.customers"], "event": "you close it"}],
    "erasure": [
        {"target": "t.customers.id", "strategy": "keep", "reason": "Tax records refer to it."},
        {"target": "t.customers.email", "strategy": "null"},
        {"target": "t.customers.phone", "strategy": "null"},
        {"target": "t.payments", "strategy": "delete"},
    ],
}  # fmt: skip


def declare(tmp_path: Path, *changes: Change) -> Loaded:
    data = copy.deepcopy(BASE)
    for change in changes:
        change(data)
    path = tmp_path / "covenant.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load(path)


def rules_broken(loaded: Loaded) -> list[str]:
    return [v.rule for v in evaluate(loaded)]


def fields(d: dict[str, Any], collection: int) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = d["datasets"][0]["dataset"]["collections"][collection]["fields"]
    return result


def add_field(collection: int, name: str, *categories: str) -> Change:
    def change(d: dict[str, Any]) -> None:
        fields(d, collection).append({"name": name, "data_categories": list(categories)})
        kind = "customers" if collection == 0 else "payments"
        if collection == 0:
            d["erasure"].append({"target": f"t.{kind}.{name}", "strategy": "null"})

    return change


def extend_taxonomy(key: str, parent: str) -> Change:
    def change(d: dict[str, Any]) -> None:
        d.setdefault("taxonomy", {"data_categories": []})["data_categories"].append(
            {"fides_key": key, "parent_key": parent, "name": key.rsplit(".", 1)[-1]}
        )

    return change


def line_of(tmp_path: Path, needle: str, after: str = "") -> int:
    lines = (tmp_path / "covenant.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def test_base_declaration_breaks_no_rule(tmp_path: Path) -> None:
    assert evaluate(declare(tmp_path)) == []


def test_every_builtin_rule_is_documented() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "rules.md").read_text()
    missing = [r.key for r in BUILTIN if f"`{r.key}`" not in docs]
    assert not missing, f"document these rules in docs/rules.md: {missing}"


# -- Card data (PCI DSS 4.0) --------------------------------------------------------------------


def test_card_security_code_category_fails(tmp_path: Path) -> None:
    loaded = declare(
        tmp_path,
        extend_taxonomy("user.financial.credit_card.security_code", "user.financial.credit_card"),
        add_field(1, "code", "user.financial.credit_card.security_code"),
    )
    [v] = [v for v in evaluate(loaded) if v.rule == "no_card_security_code"]
    assert "3.3.1.2" in v.message
    assert "t.payments.code" in v.message
    assert v.line == line_of(tmp_path, "name: code")
    assert v.fix.startswith("drop the column")


def test_card_security_code_by_name_fails(tmp_path: Path) -> None:
    loaded = declare(tmp_path, add_field(1, "cvv2", "system.operations"))
    assert rules_broken(loaded) == ["no_card_security_code"]


@pytest.mark.parametrize(
    ("name", "category"),
    [("card", "user.financial.credit_card"), ("card_number", "system.operations")],
    ids=["broad-credit-card-category", "named-like-a-number"],
)
def test_full_card_number_fails(tmp_path: Path, name: str, category: str) -> None:
    loaded = declare(tmp_path, add_field(1, name, category))
    assert rules_broken(loaded) == ["no_full_card_number"]


def test_token_and_last_four_pass(tmp_path: Path) -> None:
    loaded = declare(
        tmp_path,
        extend_taxonomy("user.financial.credit_card.last_four", "user.financial.credit_card"),
        add_field(1, "card_last4", "user.financial.credit_card.last_four"),
    )
    assert evaluate(loaded) == []


# -- Selling and sharing -------------------------------------------------------------------------


def test_sale_without_declaring_it_fails(tmp_path: Path) -> None:
    loaded = declare(tmp_path, lambda d: d["recipients"][0].update(sale=True))
    [v] = evaluate(loaded)
    assert v.rule == "no_undeclared_sale_or_share"
    assert v.key_path == "recipients[0].sale"
    assert v.line == line_of(tmp_path, "sale: true")
    assert v.path == f"{tmp_path / 'covenant.yml'}:{v.line} recipients[0].sale"


def test_declared_sale_passes(tmp_path: Path) -> None:
    def sell(d: dict[str, Any]) -> None:
        d["recipients"][0]["sale"] = True
        d["organization"]["sells_personal_information"] = True

    assert evaluate(declare(tmp_path, sell)) == []


def test_share_without_declaring_it_fails(tmp_path: Path) -> None:
    loaded = declare(tmp_path, lambda d: d["recipients"][0].update(share=True))
    assert [v.key_path for v in evaluate(loaded)] == ["recipients[0].share"]


def _tracker(vendor: str) -> Change:
    def change(d: dict[str, Any]) -> None:
        d["trackers"] = [{"key": "pixel", "name": "Pixel", "vendor": vendor,
                          "category": "advertising", "purpose": "Ads.", "lifetime": "90 days"}]  # fmt: skip

    return change


def test_third_party_advertising_tracker_means_sharing(tmp_path: Path) -> None:
    [v] = evaluate(declare(tmp_path, _tracker("Ads Inc")))
    assert v.rule == "advertising_trackers_are_sharing"
    assert v.key_path == "trackers[0].category"


def test_own_advertising_tracker_or_declared_sharing_passes(tmp_path: Path) -> None:
    assert evaluate(declare(tmp_path, _tracker("Test Shop"))) == []
    shares = declare(
        tmp_path,
        _tracker("Ads Inc"),
        lambda d: d["organization"].update(shares_personal_information=True),
    )
    assert evaluate(shares) == []


# -- Forbidden categories (seed H14) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("receives", "forbidden", "broken"),
    [
        (["user.contact"], ["user.contact.email"], True),
        (["user.contact.email"], ["user.contact"], True),
        (["user.contact.email"], ["user.contact.email"], True),
        (["user.unique_id"], ["user.contact.phone_number", "user.financial"], False),
    ],
    ids=["broad-includes-forbidden", "narrow-inside-forbidden", "same", "disjoint"],
)
def test_forbidden_categories(
    tmp_path: Path, receives: list[str], forbidden: list[str], broken: bool
) -> None:
    def change(d: dict[str, Any]) -> None:
        d["recipients"][0]["categories"] = receives
        d["recipients"][0]["forbidden_categories"] = forbidden

    violations = evaluate(declare(tmp_path, change))
    assert [v.rule for v in violations] == (["no_forbidden_categories"] if broken else [])
    if broken:
        assert violations[0].key_path == "recipients[0].categories[0]"


# -- Purpose and retention coverage ---------------------------------------------------------------


def test_personal_data_without_purpose_fails(tmp_path: Path) -> None:
    def drop(d: dict[str, Any]) -> None:
        d["purposes"][0]["collections"] = ["t.customers"]

    [v] = evaluate(declare(tmp_path, drop))
    assert v.rule == "personal_data_has_purpose"
    assert "t.payments" in v.message
    assert "token" in v.message
    assert v.key_path.endswith("collections[1] (t.payments)")
    assert v.line == line_of(tmp_path, "name: payments")


def test_purpose_categories_narrow_what_is_covered(tmp_path: Path) -> None:
    def narrow(d: dict[str, Any]) -> None:
        d["purposes"][0]["collections"] = ["t.payments"]
        d["purposes"][1]["categories"] = ["user.contact.email", "user.unique_id"]

    [v] = evaluate(declare(tmp_path, narrow))
    assert v.rule == "personal_data_has_purpose"
    assert v.message.endswith("phone")


def test_personal_data_without_retention_fails(tmp_path: Path) -> None:
    [v] = evaluate(declare(tmp_path, lambda d: d.pop("kept_until")))
    assert v.rule == "personal_data_has_retention"
    assert "t.customers" in v.message


def _location(at_most: str | None) -> Change:
    def change(d: dict[str, Any]) -> None:
        add_field(0, "location", "user.location.precise")(d)
        if at_most:
            d["kept_until"][0]["at_most"] = at_most

    return change


def test_sensitive_data_without_time_limit_fails(tmp_path: Path) -> None:
    [v] = evaluate(declare(tmp_path, _location(None)))
    assert v.rule == "sensitive_data_purpose_and_retention"
    assert "no time limit" in v.message
    assert "user.location.precise" in v.message


def test_sensitive_data_with_bounded_retention_passes(tmp_path: Path) -> None:
    assert evaluate(declare(tmp_path, _location("30 days"))) == []


def test_sensitive_data_without_purpose_fails(tmp_path: Path) -> None:
    def narrow(d: dict[str, Any]) -> None:
        d["purposes"][0]["categories"] = ["user.contact", "user.unique_id", "user.payment",
                                          "user.behavior"]  # fmt: skip
        d["purposes"][1]["categories"] = ["user.contact"]

    broken = rules_broken(declare(tmp_path, _location("30 days"), narrow))
    assert broken == ["personal_data_has_purpose", "sensitive_data_purpose_and_retention"]


def test_erasure_and_reachability_are_enforced_at_load(tmp_path: Path) -> None:
    """The issue's two other rules stop the loader itself: nothing can run without them."""
    with pytest.raises(DeclarationError, match="without an erasure strategy"):
        declare(tmp_path, lambda d: d["erasure"].pop(2))

    def orphan(d: dict[str, Any]) -> None:
        d["datasets"][0]["dataset"]["collections"].append(
            {
                "name": "notes",
                "fields": [{"name": "text", "data_categories": ["system.operations"]}],
            }
        )

    with pytest.raises(DeclarationError, match="no identity can reach"):
        declare(tmp_path, orphan)


# -- User rules: fideslang evaluation ---------------------------------------------------------------

EMAIL = ("user.contact.email", "user.contact", "user")
PHONE = ("user.contact.phone_number", "user.contact", "user")
TOKEN = ("user.payment", "user")


@pytest.mark.parametrize(
    ("mode", "values", "declared", "expected"),
    [
        ("ANY", ["user.contact"], (EMAIL, TOKEN), {"user.contact.email"}),
        ("ANY", ["user.financial"], (EMAIL, TOKEN), set()),
        (
            "ALL",
            ["user.contact"],
            (EMAIL, PHONE),
            {"user.contact.email", "user.contact.phone_number"},
        ),
        ("ALL", ["user.contact"], (EMAIL, TOKEN), set()),
        ("ALL", ["user.contact"], (), set()),
        ("NONE", ["user.financial"], (EMAIL, TOKEN), {"user.contact.email", "user.payment"}),
        ("NONE", ["user.contact"], (EMAIL, TOKEN), set()),
        ("OTHER", ["user.contact"], (EMAIL, TOKEN), {"user.payment"}),
    ],
)
def test_match_modes_follow_fideslang(
    mode: str, values: list[str], declared: tuple[tuple[str, ...], ...], expected: set[str]
) -> None:
    assert offending(Match(matches=mode, values=values), declared) == expected  # type: ignore[arg-type]


def _rule(**dimensions: Any) -> Change:
    def change(d: dict[str, Any]) -> None:
        d["rules"] = [{"key": "mine", "description": "A store rule.", "fix": "Do it right.",
                       **dimensions}]  # fmt: skip

    return change


def test_user_rule_on_a_recipient(tmp_path: Path) -> None:
    """Seed H14 as a user rule: the partner never gets e-mail addresses."""
    rule = _rule(
        recipients={"matches": "ANY", "values": ["partner"]},
        data_categories={"matches": "ANY", "values": ["user.contact.email"]},
    )
    assert evaluate(declare(tmp_path, rule)) == []
    leak = declare(
        tmp_path, rule, lambda d: d["recipients"][0]["categories"].append("user.contact")
    )
    [v] = evaluate(leak)
    assert v.rule == "mine"
    assert v.key_path == "recipients[0]"
    assert "recipient 'partner' (purpose 'marketing')" in v.message
    assert "data categories: user.contact.email" in v.message
    assert v.fix == "Do it right."
    assert v.line == line_of(tmp_path, "key: partner")


def test_user_rule_matches_types_uses_and_subjects_by_hierarchy(tmp_path: Path) -> None:
    rule = _rule(
        recipients={"matches": "ANY", "values": ["third_party"]},
        data_uses={"matches": "ANY", "values": ["marketing"]},
        data_subjects={"matches": "ANY", "values": ["customer"]},
    )
    [v] = evaluate(declare(tmp_path, rule))
    assert "recipients: partner" in v.message
    assert "data uses: marketing" in v.message


def test_user_rule_on_purposes_and_by_purpose_key(tmp_path: Path) -> None:
    rule = _rule(
        data_uses={"matches": "ANY", "values": ["orders"]},
        data_categories={"matches": "ANY", "values": ["user.payment"]},
    )
    labels = sorted(v.message.split(" breaks")[0] for v in evaluate(declare(tmp_path, rule)))
    assert labels == ["purpose 'orders'", "recipient 'processor' (purpose 'orders')"]


def test_user_rule_none_mode(tmp_path: Path) -> None:
    """Third parties may get data only for essential uses: NONE over data uses."""
    rule = _rule(
        recipients={"matches": "ANY", "values": ["third_party"]},
        data_uses={"matches": "NONE", "values": ["essential"]},
    )
    [v] = evaluate(declare(tmp_path, rule))
    assert v.key_path == "recipients[0]"


def test_a_rule_naming_recipients_never_fires_on_internal_processing(tmp_path: Path) -> None:
    rule = _rule(recipients={"matches": "NONE", "values": ["partner", "processor"]})
    assert evaluate(declare(tmp_path, rule)) == []


def test_user_rule_values_must_exist(tmp_path: Path) -> None:
    rule = _rule(
        data_categories={"matches": "ANY", "values": ["user.contact.emial"]},
        recipients={"matches": "ANY", "values": ["nobody"]},
    )
    with pytest.raises(DeclarationError) as err:
        declare(tmp_path, rule)
    text = err.value.message
    assert "did you mean 'user.contact.email'?" in text
    assert "rules[0].recipients.values[0]: unknown recipient 'nobody'" in text


def test_user_rule_needs_a_dimension(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="at least one of"):
        declare(tmp_path, _rule())


def test_new_sections_are_validated(tmp_path: Path) -> None:
    def bad(d: dict[str, Any]) -> None:
        d["kept_until"][0]["collections"].append("t.nothing")
        d["subjects"][0]["collections"].append("t.elsewhere")
        d["purposes"][0]["categories"] = ["user.contact.emial"]

    with pytest.raises(DeclarationError) as err:
        declare(tmp_path, bad)
    text = err.value.message
    assert "kept_until[0].collections[1]: unknown collection 't.nothing'" in text
    assert "subjects[0].collections[2]: unknown collection 't.elsewhere'" in text
    assert "purposes[0].categories[0]: unknown data category 'user.contact.emial'" in text
    with pytest.raises(DeclarationError, match=re.escape("'<number> days|weeks|months|years'")):
        declare(tmp_path, lambda d: d["kept_until"][0].update(at_most="soon"))


def test_violation_prints_rule_place_and_fix(tmp_path: Path) -> None:
    loaded = declare(tmp_path, lambda d: d["recipients"][0].update(sale=True))
    text = str(evaluate(loaded)[0])
    assert text.startswith(f"{tmp_path / 'covenant.yml'}:")
    assert "[no_undeclared_sale_or_share]" in text
    assert "\n    fix: " in text


def test_a_locator_on_loaded_is_used(tmp_path: Path) -> None:
    loaded = declare(tmp_path)
    built = locator_of(loaded)
    object.__setattr__(loaded, "locator", built)  # what load() will do once it keeps it
    assert locator_of(loaded) is built


def test_violation_is_a_plain_record() -> None:
    v = Violation("r", "f:1 a", "m", "x", "f", 1, "a")
    assert (v.rule, v.path, v.message, v.fix) == ("r", "f:1 a", "m", "x")
