"""The command-line reference in docs/cli.md is generated from the code and must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).parent.parent / "docs" / "cli.md"


def test_cli_reference_is_current(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "typer",
            "covenant.cli",
            "utils",
            "docs",
            "--name",
            "covenant",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert out.read_text() == DOCS.read_text(), (
        "docs/cli.md is stale: python -m typer covenant.cli utils docs --name covenant "
        "--output docs/cli.md"
    )
