"""Loading and validating declarations: every problem at once, each located."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from covenant.declaration import load
from covenant.errors import DeclarationError

MINI = Path(__file__).parent / "fixtures" / "mini"


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    shutil.copytree(MINI, tmp_path / "mini")
    return tmp_path / "mini"


def edit(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def problems(config: Path) -> list[str]:
    with pytest.raises(DeclarationError) as caught:
        load(config)
    return [str(p) for p in caught.value.problems]


def fields(data: dict, collection: str) -> list[dict]:  # type: ignore[type-arg]
    return next(c for c in data["dataset"][0]["collections"] if c["name"] == collection)["fields"]


def test_the_fixture_loads(mini: Path) -> None:
    loaded = load(mini / "covenant.yml")
    assert set(loaded.catalog.collections) == {
        "mini.customers",
        "mini.orders",
        "mini.order_items",
        "mini.sessions",
        "mini.calls",
    }
    assert loaded.catalog.identity_types() == {"email", "phone", "cookie_id"}


def test_malformed_yaml_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "covenant.yml"
    bad.write_text("organization:\n  name: [unclosed\nsystems: []\n")
    (found,) = problems(bad)
    assert found.startswith(f"{bad}:3: malformed YAML")


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    assert "cannot read file" in problems(tmp_path / "absent.yml")[0]
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    assert "must be a YAML mapping" in problems(tmp_path / "list.yml")[0]


def test_every_problem_is_reported_at_once_with_file_line_and_path(mini: Path) -> None:
    def break_dataset(d: dict) -> None:  # type: ignore[type-arg]
        fields(d, "customers")[2]["data_categories"] = ["user.nmae"]
        fields(d, "orders")[1]["fides_meta"]["references"][0]["field"] = "customers.uid"
        d["dataset"][0]["collections"].append(
            {"name": "island", "fields": [{"name": "note", "data_categories": ["user.content"]}]}
        )

    def break_main(d: dict) -> None:  # type: ignore[type-arg]
        d["datasets"][0]["system"] = "warehouse"
        d["erasure"] = [e for e in d["erasure"] if e["target"] != "mini.calls.notes"]

    edit(mini / "datasets" / "shop.yml", break_dataset)
    edit(mini / "covenant.yml", break_main)
    found = problems(mini / "covenant.yml")
    text = "\n".join(found)
    shop = str(mini / "datasets" / "shop.yml")
    assert f"{shop}:" in text
    assert "unknown data category 'user.nmae'; did you mean 'user.name'?" in text
    assert "references missing field 'mini.customers.uid'" in text
    assert "no identity can reach this collection" in text
    assert "(mini.island)" in text
    assert "unknown system 'warehouse'" in text
    assert "personal data without an erasure strategy" in text
    assert "mini.calls.notes" in text
    assert "mini.island.note" in text
    assert all(line.split(":")[1].isdigit() for line in found), found


def test_reference_cycle_is_reported(mini: Path) -> None:
    def cycle(d: dict) -> None:  # type: ignore[type-arg]
        fields(d, "customers")[0]["fides_meta"]["references"] = [
            {"dataset": "mini", "field": "orders.id", "direction": "from"}
        ]

    edit(mini / "datasets" / "shop.yml", cycle)
    text = "\n".join(problems(mini / "covenant.yml"))
    assert "reference cycle: mini.customers -> mini.orders -> mini.customers" in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["organization"].pop("controller"), "required key 'controller' is missing"),
        (lambda d: d.update(surprise=1), "surprise: unknown key"),
        (
            lambda d: d["systems"][0]["connection"].update(url="postgresql://u:hunter2@db/shop"),
            "holds a password",
        ),
        (
            lambda d: d["erasure"].append({"target": "mini.customers.name", "strategy": "shred"}),
            "Input should be",
        ),
        (
            lambda d: d["erasure"].append({"target": "mini.orders", "strategy": "null"}),
            "applies to a field",
        ),
        (
            lambda d: d["erasure"].append(
                {"target": "mini.orders.total_cents", "strategy": "delete"}
            ),
            "target the collection",
        ),
        (
            lambda d: d["erasure"].append(
                {"target": "mini.orders.total_cents", "strategy": "hash"}
            ),
            "'hash' needs a secret",
        ),
        (
            lambda d: d["erasure"].append(
                {"target": "mini.orders.total_cents", "strategy": "keep"}
            ),
            "'keep' needs the 'reason'",
        ),
        (
            lambda d: d["erasure"].append({"target": "mini.nothing.x", "strategy": "null"}),
            "unknown collection in target",
        ),
        (lambda d: d["retention"][0].update(anchor="created"), "has no field 'created'"),
        (lambda d: d["retention"][0].update(duration="forever"), "write a duration"),
        (
            lambda d: d["access"].update(exclude_categories=["user.pasword"]),
            "unknown data category 'user.pasword'",
        ),
        (lambda d: d["systems"].append(copy.deepcopy(d["systems"][0])), "declared twice"),
    ],
)
def test_shape_and_reference_problems(mini: Path, change: object, expected: str) -> None:
    edit(mini / "covenant.yml", change)
    text = "\n".join(problems(mini / "covenant.yml"))
    assert expected in text
    assert "Traceback" not in text


def test_a_fides_dataset_file_loads_as_it_is(tmp_path: Path) -> None:
    # The shape Fides documents for its sample Postgres dataset: identity,
    # references with direction, primary keys and `after`, unchanged.
    (tmp_path / "fides.yml").write_text(
        """
dataset:
  - fides_key: postgres_example
    name: Postgres Example
    description: Example of a Fides dataset
    collections:
      - name: customer
        fields:
          - name: email
            data_categories: [user.contact.email]
            fides_meta: {identity: email, data_type: string}
          - name: id
            data_categories: [user.unique_id]
            fides_meta: {primary_key: true}
      - name: orders
        fides_meta:
          after: [postgres_example.customer]
        fields:
          - name: customer_id
            data_categories: [user.unique_id]
            fides_meta:
              references:
                - dataset: postgres_example
                  field: customer.id
                  direction: from
          - name: id
            data_categories: [system.operations]
            fides_meta: {primary_key: true}
"""
    )
    (tmp_path / "covenant.yml").write_text(
        """
organization:
  name: Example
  controller: Example Inc.
  contacts: {privacy_email: privacy@example.com}
  minimum_age: 16
  effective_date: 2026-01-01
systems:
  - {key: db, name: DB, connection: {url: "sqlite:///db.sqlite"}}
datasets:
  - {include: fides.yml, system: db}
erasure:
  - {target: postgres_example.customer, strategy: delete}
  - {target: postgres_example.orders, strategy: delete}
"""
    )
    loaded = load(tmp_path / "covenant.yml")
    orders = loaded.catalog.collections["postgres_example.orders"]
    assert orders.after == ("postgres_example.customer",)
    assert orders.fields["customer_id"].references[0].direction == "from"


def test_huge_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "covenant.yml"
    big.write_text("a: " + "x" * (21 * 1024 * 1024))
    assert "larger than" in problems(big)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &x [*x]\n", "anchors and aliases are not supported"),
        ("a: &a [1, 2]\nb: [*a, *a, *a]\n", "anchors and aliases are not supported"),
    ],
)
def test_yaml_aliases_are_refused_not_expanded(tmp_path: Path, text: str, expected: str) -> None:
    bad = tmp_path / "covenant.yml"
    bad.write_text(text)
    assert expected in problems(bad)[0]


def test_an_include_that_is_a_folder_is_a_clear_problem(mini: Path) -> None:
    edit(mini / "covenant.yml", lambda d: d["datasets"][0].update(include="datasets"))
    assert "cannot read file" in "\n".join(problems(mini / "covenant.yml"))


def test_absurd_retention_is_refused(mini: Path) -> None:
    edit(mini / "covenant.yml", lambda d: d["retention"][0].update(duration="3000 years"))
    assert "at most 150 years" in "\n".join(problems(mini / "covenant.yml"))
