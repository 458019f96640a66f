"""The statement commands, mounted on a Typer app the way ``covenant.cli`` mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from openpyxl import load_workbook
from typer.testing import CliRunner

from covenant.notice.cli import register
from tests.test_examples import AUDIO, MUSIC


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Covenant (test mount)."""

    register(app)
    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["html", "md", "txt"])
def test_notice_writes_each_format(app: typer.Typer, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"statement.{fmt}"
    code, _, err = run(app, "notice", "--config", str(AUDIO), "--format", fmt, "--out", str(out),
                       "--versions", str(tmp_path / "none"))  # fmt: skip
    assert code == 0, err
    assert "Resonance Audio privacy statement" in out.read_text()


def test_notice_to_stdout_and_unknown_format(app: typer.Typer) -> None:
    code, out, _ = run(app, "notice", "--config", str(MUSIC), "--format", "txt")
    assert code == 0
    assert out.startswith("Cadence Music privacy statement")
    code, _, _ = run(app, "notice", "--config", str(MUSIC), "--format", "pdf")
    assert code == 2


def test_publish_versions_and_diff(app: typer.Typer, tmp_path: Path) -> None:
    versions = str(tmp_path / "v")
    code, out, err = run(
        app, "notice-publish", "--config", str(AUDIO), "--versions", versions, "--json"
    )
    assert code == 0, err
    assert json.loads(out)["version"] == 1
    code, out, _ = run(
        app, "notice-publish", "--config", str(AUDIO), "--versions", versions, "--json"
    )
    assert json.loads(out) == {"published": False, "latest": 1}
    code, out, _ = run(
        app, "notice-versions", "--config", str(AUDIO), "--versions", versions, "--json"
    )
    assert [v["version"] for v in json.loads(out)] == [1]
    code, out, _ = run(app, "notice-diff", "--config", str(AUDIO), "--versions", versions, "--json")
    assert json.loads(out) == {"from": 1, "to": "current", "material": False, "changes": []}
    code, _, err = run(
        app, "notice-diff", "--config", str(AUDIO), "--versions", versions, "--from", "7"
    )
    assert code == 2
    assert "no published version 7" in err


def test_diff_before_any_publication_is_a_clear_error(app: typer.Typer, tmp_path: Path) -> None:
    code, _, err = run(app, "notice-diff", "--config", str(AUDIO), "--versions", str(tmp_path))
    assert code == 2
    assert "notice-publish" in err


def test_ropa_csv_and_xlsx(app: typer.Typer, tmp_path: Path) -> None:
    csv_path, xlsx_path = tmp_path / "ropa.csv", tmp_path / "ropa.xlsx"
    assert (
        run(app, "ropa", "--config", str(AUDIO), "--format", "csv", "--out", str(csv_path))[0] == 0
    )
    assert csv_path.read_bytes().startswith(b"Controller (a),")
    assert (
        run(app, "ropa", "--config", str(AUDIO), "--format", "xlsx", "--out", str(xlsx_path))[0]
        == 0
    )
    assert load_workbook(xlsx_path).sheetnames[0] == "Controller"


def test_dataflow_and_securitytxt(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "flow.svg"
    assert run(app, "dataflow", "--config", str(AUDIO), "--out", str(out))[0] == 0
    assert out.read_text().startswith("<svg")
    code, text, _ = run(app, "securitytxt", "--config", str(AUDIO))
    assert code == 0
    assert "Contact: mailto:security@resonance-audio.example" in text
    code, _, err = run(app, "securitytxt", "--config", str(MUSIC))
    assert code == 2
    assert "security_email" in err


def test_invalid_declaration_exits_with_its_code(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "covenant.yml"
    bad.write_text("organization: {}\n")
    code, _, err = run(app, "notice", "--config", str(bad))
    assert code == 2
    assert "problem" in err
