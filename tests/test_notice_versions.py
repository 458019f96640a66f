"""Statement versions: publishing, the diff in words, materiality, re-consent, the change log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from covenant.declaration import Loaded, load
from covenant.notice import build, diff, needs_reconsent, render, snapshot
from covenant.notice.errors import NoticeError
from covenant.notice.facts import Facts
from covenant.notice.store import VersionStore
from covenant.notice.versions import Change, Version
from tests.test_examples import AUDIO, MUSIC, variant

NOW = dt.datetime(2026, 1, 10, 9, 30, tzinfo=dt.UTC)


def _snap(loaded: Loaded) -> dict[str, Any]:
    return snapshot(Facts(loaded))


def _texts(changes: list[Change]) -> list[str]:
    return [c.text for c in changes]


def _later(d: dict[str, Any], day: str = "2026-03-01") -> None:
    d["organization"]["effective_date"] = day


def test_no_change_no_diff() -> None:
    snap = _snap(load(AUDIO))
    assert diff(snap, snap) == []


def test_new_category_is_material_and_told_in_words(tmp_path: Path) -> None:
    """The issue's example: "added category: precise geolocation"."""

    def add_location(d: dict[str, Any]) -> None:
        d["sources"][0]["categories"] = ["user.location.imprecise"]

    changes = diff(_snap(load(AUDIO)), _snap(variant(tmp_path, AUDIO, add_location)))
    assert Change("added category: approximate location", True) in changes


def test_new_recipient_sale_and_sharing_are_material(tmp_path: Path) -> None:
    def sell(d: dict[str, Any]) -> None:
        d["organization"]["sells_personal_information"] = True
        d["organization"]["shares_personal_information"] = False
        d["recipients"] = [r for r in d["recipients"] if r["key"] != "ad_networks"]
        d["recipients"].append(
            {
                "key": "data_broker",
                "name": "Acme Data",
                "type": "third_party",
                "categories": ["user.name"],
                "sale": True,
            }
        )
        d["purposes"] = [p for p in d["purposes"] if p["key"] != "advertising"]
        d["trackers"] = [t for t in d["trackers"] if t["category"] != "advertising"]

    old, new = _snap(load(AUDIO)), _snap(variant(tmp_path, AUDIO, sell))
    changes = diff(old, new)
    texts = _texts(changes)
    assert "new recipient: Acme Data (third party)" in texts
    assert "now sells personal information: yes" in texts
    assert "removed recipient: Advertising networks" in texts
    assert "no longer shares" in texts
    material = {c.text for c in changes if c.material}
    assert {
        "new recipient: Acme Data (third party)",
        "now sells personal information: yes",
    } <= material
    assert "removed recipient: Advertising networks" not in material
    back = diff(new, old)
    assert "now shares personal information: yes" in _texts(back)


def test_new_purpose_and_new_recipient_categories_are_material(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["purposes"].append(
            {
                "key": "research",
                "name": "Product research",
                "description": "Study use.",
                "data_use": "functional.service.improve",
                "collections": ["shop.reviews"],
            }
        )
        carrier = next(r for r in d["recipients"] if r["key"] == "carrier")
        carrier["categories"].append("user.contact.phone_number")

    changes = diff(_snap(load(AUDIO)), _snap(variant(tmp_path, AUDIO, change)))
    assert Change("added purpose: Product research", True) in changes
    assert Change("Parcel carriers now receives: phone number", True) in changes


def test_minor_changes_are_not_material(tmp_path: Path) -> None:
    def tweak(d: dict[str, Any]) -> None:
        d["trackers"] = [t for t in d["trackers"] if t["key"] != "preferences"]
        d["retention"][2]["duration"] = "12 months"
        d["organization"]["contacts"]["privacy_phone"] = "+1-800-555-0100"

    changes = diff(_snap(load(AUDIO)), _snap(variant(tmp_path, AUDIO, tweak)))
    assert changes
    assert not any(c.material for c in changes)
    assert "removed tracker: Preferences cookie" in _texts(changes)
    assert "contact details changed" in _texts(changes)
    assert any(t.startswith("retention rule 'web_logs' changed") for t in _texts(changes))


def test_material_changes_come_first(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["trackers"] = d["trackers"][:1]
        d["sources"][0]["categories"] = ["user.location.imprecise"]

    changes = diff(_snap(load(AUDIO)), _snap(variant(tmp_path, AUDIO, change)))
    flags = [c.material for c in changes]
    assert flags == sorted(flags, reverse=True)


def test_publish_keeps_versions_and_queues_a_notice_for_material_changes(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "versions")
    first = store.publish(load(AUDIO), NOW)
    assert first is not None
    assert first.version.number == 1
    assert first.notice is None
    assert store.publish(load(AUDIO), NOW) is None, "an unchanged statement is not republished"

    def add(d: dict[str, Any]) -> None:
        _later(d)
        d["sources"][0]["categories"] = ["user.location.imprecise"]

    second = store.publish(variant(tmp_path, AUDIO, add), NOW + dt.timedelta(days=30))
    assert second is not None
    assert second.version.number == 2
    assert second.version.material
    assert second.notice is not None
    assert second.notice.reconsent is True
    assert second.notice.channels == ["website_notice", "email", "account_notice"]
    assert "- Added category: approximate location" in second.notice.body
    assert [n.version for n in store.pending_notices()] == [2]
    saved = [v.number for v in store.versions()]
    assert saved == [1, 2]
    on_disk = json.loads((tmp_path / "versions" / "v0002.json").read_text())
    assert on_disk["effective_date"] == "2026-03-01"
    assert on_disk["material"] is True
    assert on_disk["text"].startswith("# Resonance Audio privacy statement")


def test_a_changed_statement_needs_a_later_effective_date(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "versions")
    store.publish(load(AUDIO), NOW)

    def same_day(d: dict[str, Any]) -> None:
        d["trackers"] = d["trackers"][:2]

    with pytest.raises(NoticeError, match="effective_date"):
        store.publish(variant(tmp_path, AUDIO, same_day), NOW)


def test_wording_changes_are_versions_too(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "versions")
    store.publish(load(AUDIO), NOW)

    def reword(d: dict[str, Any]) -> None:
        _later(d)
        d["statement"]["intro"] = "We make speakers."

    done = store.publish(variant(tmp_path, AUDIO, reword), NOW)
    assert done is not None
    assert [c.text for c in done.version.changes] == ["wording changed"]
    assert not done.version.material
    assert done.notice is None


def test_published_versions_are_never_rewritten(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "versions")
    done = store.publish(load(AUDIO), NOW)
    assert done is not None
    with pytest.raises(NoticeError, match="never rewritten"):
        store._write(tmp_path / "versions" / "v0001.json", {})


def test_corrupt_version_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "v0001.json").write_text("{}")
    with pytest.raises(NoticeError, match="not a statement version file"):
        VersionStore(folder).versions()


def _version(number: int, material: bool, sells: bool = False, day: str = "2025-01-01") -> Version:
    return Version(
        number, day, day + "T00:00:00+00:00", f"d{number}", material, (), {"sells": sells}
    )


def test_needs_reconsent_after_a_material_change() -> None:
    versions = [_version(1, False), _version(2, True), _version(3, False)]
    assert needs_reconsent(None, versions)
    assert needs_reconsent(1, versions)
    assert not needs_reconsent(2, versions)
    assert not needs_reconsent(3, versions)
    assert not needs_reconsent(None, [_version(1, False)])


def test_change_log_appears_in_the_statement(tmp_path: Path) -> None:
    """Seed H28: the statement page keeps a public change log."""
    store = VersionStore(tmp_path / "versions")
    store.publish(load(MUSIC), NOW)
    text = render(build(load(MUSIC), store.versions()), "txt")
    assert "Change log:" in text
    assert "Version 1" in text
    assert "first published version" in text


def test_past_sale_blocks_the_not_sold_in_12_months_claim(tmp_path: Path) -> None:
    """CCPA: "we have not sold in the past 12 months" only when no recent version sold."""

    def said(history: list[Version]) -> str:
        return " ".join(render(build(load(AUDIO), history), "txt").split())

    recent = said([_version(1, True, sells=True, day="2025-06-01")])
    assert "We do not sell personal information." in recent
    assert "have not sold it in the past 12 months" not in recent
    old = said(
        [_version(1, True, sells=True, day="2020-01-01"), _version(2, True, day="2024-06-01")]
    )
    assert "have not sold it in the past 12 months" in old
