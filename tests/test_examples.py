"""The two seed stores as examples: they load, break no rule, and trace every promise.

The commitment IDs are copied here from ``COMMITMENTS.md`` (which lives outside
the repository) so the trace check runs on a clean clone. ``variant()`` builds a
changed copy of an example for other test modules.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from covenant.declaration import Loaded, load
from covenant.rules import evaluate

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
AUDIO = EXAMPLES / "audio-store" / "covenant.yml"
MUSIC = EXAMPLES / "music-store" / "covenant.yml"

COMMITMENTS: dict[str, list[str]] = {
    "audio-store": [f"S{i}" for i in range(1, 6)] + [f"P{i}" for i in range(1, 25)],
    "music-store": [f"H{i}" for i in range(1, 29)],
}


def variant(tmp_path: Path, example: Path, change: Callable[[dict[str, Any]], None]) -> Loaded:
    """Copy an example into ``tmp_path``, let ``change`` edit its covenant.yml, and load it."""
    target = tmp_path / example.parent.name
    shutil.copytree(example.parent, target, dirs_exist_ok=True)
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    change(data)
    (target / "covenant.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load(target / "covenant.yml")


@pytest.mark.parametrize("path", [AUDIO, MUSIC], ids=["audio-store", "music-store"])
def test_example_loads_and_breaks_no_rule(path: Path) -> None:
    loaded = load(path)
    assert loaded.catalog.collections
    violations = evaluate(loaded)
    assert not violations, "\n".join(str(v) for v in violations)


def _trace_rows(store: str) -> dict[str, list[str]]:
    text = (EXAMPLES / store / "TRACE.md").read_text(encoding="utf-8")
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"[SPH]\d+", cells[0]):
            rows[cells[0]] = cells
    return rows


@pytest.mark.parametrize("store", sorted(COMMITMENTS))
def test_trace_maps_every_commitment(store: str) -> None:
    """Fails when a commitment ID is missing from, or unknown to, the store's TRACE.md."""
    rows = _trace_rows(store)
    missing = [i for i in COMMITMENTS[store] if i not in rows]
    unknown = [i for i in rows if i not in COMMITMENTS[store]]
    assert not missing, f"examples/{store}/TRACE.md lacks {missing}"
    assert not unknown, f"examples/{store}/TRACE.md names unknown IDs {unknown}"


TEST_REF = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


@pytest.mark.parametrize("store", sorted(COMMITMENTS))
def test_trace_names_a_real_test_or_says_organizational(store: str) -> None:
    """Each row names what keeps the promise and a test that exists, or is organizational."""
    problems = []
    for cid, cells in _trace_rows(store).items():
        feature, proof = cells[2], cells[3]
        if not feature:
            problems.append(f"{cid}: no feature named")
        refs = TEST_REF.findall(proof)
        if not refs and "organizational" not in proof.lower():
            problems.append(f"{cid}: names no test and is not marked organizational")
        for file, name in refs:
            source = ROOT / file
            if not source.is_file() or not re.search(
                rf"^(?:async )?def {name}\(", source.read_text(encoding="utf-8"), re.M
            ):
                problems.append(f"{cid}: {file}::{name} does not exist")
    assert not problems, "\n".join(problems)


def test_audio_dataset_is_the_demo_stores() -> None:
    """The example describes the demo's shop database exactly, so the demo can use it."""
    demo = pytest.importorskip("covenant.demo.dataset", reason="the demo package is not built")
    path = EXAMPLES / "audio-store" / "datasets" / "shop.yml"
    expected = demo.document()
    if os.environ.get("COVENANT_REGENERATE"):
        header = "".join(
            line
            for line in path.read_text(encoding="utf-8").splitlines(True)
            if line.startswith("#")
        )
        body = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=100)
        path.write_text(header + body, encoding="utf-8")
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == expected, (
        "examples/audio-store/datasets/shop.yml drifted from src/covenant/demo/schema.py; "
        "regenerate with COVENANT_REGENERATE=1 pytest tests/test_examples.py"
    )
