"""The traversal planner, pure: no database involved."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covenant.declaration import load
from covenant.declaration.catalog import Catalog, CollectionInfo, FieldInfo, Reference
from covenant.engine.plan import plan
from covenant.engine.walk import coerce

MINI = Path(__file__).parent / "fixtures" / "mini" / "covenant.yml"


def test_multi_hop_from_email() -> None:
    p = plan(load(MINI).catalog, ["email"])
    assert p.collections == ["mini.customers", "mini.orders", "mini.sessions", "mini.order_items"]
    items = p.step("mini.order_items")
    assert items.hop == 2
    assert items.inputs[0].source == "mini.orders"
    assert p.outputs("mini.customers") == {"id"}
    assert p.unreachable == ("mini.calls",)


def test_second_identity_reaches_what_email_cannot() -> None:
    p = plan(load(MINI).catalog, ["email", "phone"])
    assert "mini.calls" in p.collections
    assert p.unreachable == ()


def test_visitor_by_cookie_only() -> None:
    p = plan(load(MINI).catalog, ["cookie_id"])
    assert p.collections == ["mini.sessions"]


def _catalog(n: int, links: list[tuple[int, int, str | None]], seeds: set[int]) -> Catalog:
    refs: dict[int, list[Reference]] = {i: [] for i in range(n)}
    for a, b, direction in links:
        if a != b:
            refs[a].append(Reference(f"d.c{b}", "id", direction))  # type: ignore[arg-type]
    cat = Catalog()
    for i in range(n):
        fields = {
            "id": FieldInfo("id", ("system.operations",), primary_key=True),
            "ref": FieldInfo("ref", ("user.unique_id",), references=tuple(refs[i])),
        }
        if i in seeds:
            fields["email"] = FieldInfo("email", ("user.contact.email",), identity="email")
        cat.collections[f"d.c{i}"] = CollectionInfo(f"d.c{i}", "d", f"c{i}", fields)
    return cat


graphs = st.integers(min_value=1, max_value=9).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(
                st.integers(0, n - 1), st.integers(0, n - 1), st.sampled_from(["from", "to", None])
            ),
            max_size=20,
        ),
        st.sets(st.integers(0, n - 1), max_size=3),
    )
)


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_plan_invariants(graph: tuple[int, list[tuple[int, int, str | None]], set[int]]) -> None:
    n, links, seeds = graph
    cat = _catalog(n, links, seeds)
    p = plan(cat, ["email"])
    order = p.collections
    # Each reachable collection is queried exactly once, and reachable + unreachable = all.
    assert len(order) == len(set(order))
    assert set(order) | set(p.unreachable) == set(cat.collections)
    assert not set(order) & set(p.unreachable)
    # Every input comes from an identity or a collection planned earlier.
    position = {c: i for i, c in enumerate(order)}
    for step in p.steps:
        assert step.inputs
        for i in step.inputs:
            assert (i.identity is not None) != (i.source is not None)
            if i.source is not None:
                assert position[i.source] < position[step.collection]
    # Seeded collections are at hop 0; everything reachable over edges is planned.
    assert {f"d.c{s}" for s in seeds} == {s.collection for s in p.steps if s.hop == 0}
    reach = {f"d.c{s}" for s in seeds}
    changed = True
    while changed:
        changed = False
        for e in cat.edges():
            if e.source in reach and e.target not in reach:
                reach.add(e.target)
                changed = True
    assert reach == set(order)


@settings(max_examples=200, deadline=None)
@given(graphs)
def test_more_identities_never_reach_less(
    graph: tuple[int, list[tuple[int, int, str | None]], set[int]],
) -> None:
    n, links, seeds = graph
    cat = _catalog(n, links, seeds)
    for i in range(n):  # a second identity type on every other collection
        if i % 2:
            info = cat.collections[f"d.c{i}"]
            info.fields["device"] = FieldInfo(
                "device", ("user.device.device_id",), identity="device"
            )
    one = plan(cat, ["email"])
    both = plan(cat, ["email", "device"])
    assert set(one.collections) <= set(both.collections)
    # Every link followed with one identity is still a source of the same step with two,
    # unless the target became a seed of its own at the same hop as the link's source.
    for step in one.steps:
        linked = {(i.source, i.source_field, i.field) for i in step.inputs if i.source}
        now = both.step(step.collection)
        kept = {(i.source, i.source_field, i.field) for i in now.inputs if i.source}
        lost = linked - kept
        for source, _, _ in lost:
            assert both.step(source).hop >= now.hop


def test_a_second_identity_keeps_the_link_from_the_first() -> None:
    # installs is found by device *and* through the customer's id: with both
    # identities given, both inputs remain, so the customer's other devices count.
    cat = Catalog()
    cat.collections["d.customers"] = CollectionInfo(
        "d.customers",
        "d",
        "customers",
        {
            "id": FieldInfo("id", ("user.unique_id",), primary_key=True),
            "email": FieldInfo("email", ("user.contact.email",), identity="email"),
        },
    )
    cat.collections["d.installs"] = CollectionInfo(
        "d.installs",
        "d",
        "installs",
        {
            "id": FieldInfo("id", ("system.operations",), primary_key=True),
            "device": FieldInfo("device", ("user.device.device_id",), identity="device"),
            "customer_id": FieldInfo(
                "customer_id",
                ("user.unique_id",),
                references=(Reference("d.customers", "id", None),),
            ),
        },
    )
    step = plan(cat, ["email", "device"]).step("d.installs")
    assert {(i.field, i.identity, i.source) for i in step.inputs} == {
        ("device", "device", None),
        ("customer_id", None, "d.customers"),
    }


@pytest.mark.parametrize(
    ("value", "data_type", "expected"),
    [
        (1, "string", "1"),
        ("01", "integer", None),
        ("1abc", "integer", None),
        ("1.0", "integer", None),
        ("42", "integer", 42),
        (True, "integer", None),
        (3.0, "integer", 3),
        ("2.5", "float", 2.5),
        ("x", "float", None),
        (1, "boolean", None),
        ("anything", None, "anything"),
    ],
)
def test_values_cross_to_the_target_type_exactly(
    value: object, data_type: str | None, expected: object
) -> None:
    assert coerce(value, data_type) == expected
