"""Published statement versions, kept as files next to the declaration.

Owns the folder (``statement-versions/`` beside ``covenant.yml`` by default):
one JSON file per version (``v0001.json``) and one per queued change notice
(``notices/v0002.json``). Files, because the declaration and its statement
history belong in the store's repository, reviewed like code. A version file
is written once and never rewritten: publishing refuses to overwrite one.
The consent and mail components read the queued notices and the latest
material version from here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from covenant.declaration import Loaded
from covenant.notice.errors import NoticeError
from covenant.notice.publish import ChangeNotice, change_notice, prepare
from covenant.notice.versions import Version, latest_material

DEFAULT_FOLDER = "statement-versions"


def default_folder(loaded: Loaded) -> Path:
    return loaded.base_dir / DEFAULT_FOLDER


@dataclass(frozen=True)
class Published:
    version: Version
    notice: ChangeNotice | None
    """Queued when the change is material."""


class VersionStore:
    """The published versions in one folder, oldest first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def versions(self) -> list[Version]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.glob("v[0-9][0-9][0-9][0-9].json")):
            try:
                out.append(Version.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, KeyError, TypeError) as exc:
                raise NoticeError(f"{path}: not a statement version file ({exc})") from None
        return sorted(out, key=lambda v: v.number)

    def get(self, number: int) -> Version:
        for v in self.versions():
            if v.number == number:
                return v
        raise NoticeError(f"no published version {number} in {self.folder}")

    def latest(self) -> Version | None:
        found = self.versions()
        return found[-1] if found else None

    def latest_material(self) -> Version | None:
        """The version a consent given earlier must be renewed for (seed P23)."""
        return latest_material(self.versions())

    def publish(self, loaded: Loaded, now: dt.datetime | None = None) -> Published | None:
        """Publish the declaration's statement as the next version; None when unchanged."""
        version = prepare(loaded, self.versions(), now or dt.datetime.now(dt.UTC))
        if version is None:
            return None
        self._write(self.folder / f"v{version.number:04d}.json", version.to_dict())
        notice = None
        if version.material:
            notice = change_notice(loaded, version)
            self._write(self.folder / "notices" / f"v{version.number:04d}.json", notice.to_dict())
        return Published(version, notice)

    def pending_notices(self) -> list[ChangeNotice]:
        folder = self.folder / "notices"
        if not folder.is_dir():
            return []
        return [
            ChangeNotice(**json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("v*.json"))
        ]

    @staticmethod
    def _write(path: Path, data: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(body, encoding="utf-8")
        try:
            # A link fails when the target exists: a published version is never rewritten.
            os.link(tmp, path)
        except FileExistsError:
            raise NoticeError(
                f"{path} already exists; published versions are never rewritten"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
