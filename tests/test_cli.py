"""The command line: readable summaries, --json, and clear errors with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from covenant.cli import app
from tests import mini_store as m

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite:///{tmp_path}/shop.db"
    monkeypatch.setenv("MINI_DB_URL", url)
    monkeypatch.setenv("MINI_HASH_KEY", "cli-test-hash-key-0123")
    store = m.build(url, tmp_path)
    store.engine.dispose()
    return store.config


def test_check_ok_and_json(config: Path) -> None:
    result = runner.invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 0
    assert "5 collections" in result.stdout
    result = runner.invoke(app, ["check", "--config", str(config), "--json"])
    assert json.loads(result.stdout) == {"ok": True, "collections": 5, "fields": 19}


def test_check_fails_with_located_problems(tmp_path: Path) -> None:
    bad = tmp_path / "covenant.yml"
    bad.write_text("organization: {name: x}\n")
    result = runner.invoke(app, ["check", "--config", str(bad), "--json"])
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert any(p["message"] == "missing 'datasets': declare at least one dataset" for p in problems)
    assert all(p["file"] == str(bad) for p in problems)


def test_access_erase_correct_round_trip(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "ana.zip"
    args = ["--config", str(config), "--identity", f"email={m.ANA}"]
    result = runner.invoke(app, ["dsr", "access", *args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total_rows"] == 8
    assert out.exists()

    result = runner.invoke(
        app, ["dsr", "correct", *args, "--set", "mini.customers.name=Ana M.", "--json"]
    )
    assert result.exit_code == 0, result.output
    change = json.loads(result.stdout)["collection_changes"]["mini.customers"][0]
    assert change["after"] == {"name": "Ana M."}

    result = runner.invoke(app, ["dsr", "erase", *args])
    assert result.exit_code == 0, result.output
    assert "verified" in result.stdout
    assert "Tax law" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["dsr", "access", "--identity", "passport=1"], 2, "unknown identity type 'passport'"),
        (["dsr", "access", "--identity", "email"], 2, "write an identity as type=value"),
        (["dsr", "access", "--identity", "email=a\x00b@x.com"], 2, "control characters"),
        (["dsr", "access", "--identity", "email=" + "a" * 400], 2, "longer than"),
        (["dsr", "erase", "--identity", "phone=n/a"], 2, "phone number has no digits"),
        (
            ["dsr", "correct", "--identity", "email=a@b.c", "--set", "nonsense"],
            2,
            "write a correction",
        ),
    ],
)
def test_bad_input_is_a_clear_error(config: Path, args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, [*args[:2], "--config", str(config), *args[2:]])
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_database_is_a_clear_error(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINI_DB_URL", "mysql+pymysql://root@127.0.0.1:1/none")
    result = runner.invoke(
        app, ["dsr", "erase", "--config", str(config), "--identity", "email=a@b.c"]
    )
    assert result.exit_code == 3
    assert "cannot connect" in result.stderr


def test_missing_env_reference_is_named(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINI_DB_URL")
    result = runner.invoke(
        app, ["dsr", "access", "--config", str(config), "--identity", "email=a@b.c"]
    )
    assert result.exit_code == 3
    assert "MINI_DB_URL is not set" in result.stderr


def test_demo_run_builds_the_store_and_runs_both_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COVENANT_HASH_KEY", raising=False)
    result = runner.invoke(app, ["demo", "run", str(tmp_path / "demo"), "--customers", "30"])
    assert result.exit_code == 0, result.output
    assert "Access request" in result.stdout
    assert "verified: re-read every collection" in result.stdout
    assert "Tax law requires us to keep sales records" in result.stdout
    assert list((tmp_path / "demo").glob("access-customer-*.zip"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://somewhere/db", "cannot use a 'foo' database"),
        ("sqlite:///no/such/store.db", "does not exist"),
    ],
)
def test_unusable_database_urls_are_clear_errors(
    config: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("MINI_DB_URL", url)
    result = runner.invoke(
        app, ["dsr", "access", "--config", str(config), "--identity", "email=a@b.c"]
    )
    assert result.exit_code == 3
    assert message in result.stderr
    assert not Path("/no/such/store.db").exists()


def test_db_upgrade_creates_covenants_own_database(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COVENANT_DATABASE_URL", raising=False)
    for _ in range(2):  # the second run finds nothing to do
        result = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
        assert result.exit_code == 0, result.output
    assert (config.parent / "covenant-state.db").exists()
