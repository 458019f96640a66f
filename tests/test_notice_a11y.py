"""The statement HTML passes axe-core in headless Chromium: no serious or critical violation.

Needs Chromium from the OS and ``npm ci`` in ``tests/a11y`` (axe-core, playwright-core).
Skips, saying what is missing, when either is absent. Set ``COVENANT_CHROMIUM`` to
use another Chromium binary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from covenant.declaration import load
from covenant.notice import build, render
from tests.test_examples import AUDIO, MUSIC

HARNESS = Path(__file__).parent / "a11y"
FAILING = {"serious", "critical"}


def _chromium() -> str | None:
    candidates = [
        os.environ.get("COVENANT_CHROMIUM"),
        "/usr/lib/chromium/chromium",  # Debian's binary, without the wrapper script
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def _requirements() -> tuple[str, str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: apt-get install -y nodejs npm")
    for package in ("axe-core", "playwright-core"):
        if not (HARNESS / "node_modules" / package).is_dir():
            pytest.skip(f"{package} is missing: run `npm ci` in tests/a11y")
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed: apt-get install -y chromium")
    return node, chromium


def _axe(files: list[Path]) -> dict[str, list[dict[str, object]]]:
    node, chromium = _requirements()
    done = subprocess.run(
        [node, str(HARNESS / "run-axe.mjs"), chromium, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, list[dict[str, object]]] = json.loads(done.stdout)
    return report


def test_statements_have_no_serious_or_critical_violations(tmp_path: Path) -> None:
    files = []
    for example in (AUDIO, MUSIC):
        path = tmp_path / f"{example.parent.name}.html"
        path.write_text(render(build(load(example)), "html"), encoding="utf-8")
        files.append(path)
    report = _axe(files)
    assert set(report) == {str(f) for f in files}
    bad = [
        f"{Path(file).name}: {v['id']} ({v['impact']}): {v['help']} at {v['targets']}"
        for file, violations in report.items()
        for v in violations
        if v["impact"] in FAILING
    ]
    assert not bad, "\n".join(bad)


def test_the_check_can_fail(tmp_path: Path) -> None:
    """A page with known faults must be reported, or the gate above proves nothing."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!doctype html><html><head><title>x</title></head>"
        '<body><main><img src="a.png"><a href="#"></a></main></body></html>'
    )
    impacts = {v["impact"] for v in _axe([page])[str(page)]}
    assert impacts & FAILING
