"""Packages kept for people until they fetch them: stored encrypted, fetched by link, expired.

The files are in one folder; each file's key and the keyed hash of its
download token are in ``request_deliveries``, with the token itself sealed
for the completion message. See :mod:`covenant.desk.delivery` for the
encryption, and docs/requests.md for the guarantees.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from covenant.audit import AuditLog, ExportDownloaded
from covenant.desk import delivery as files
from covenant.desk.tables import deliveries
from covenant.errors import CovenantError
from covenant.keys import Keys


class LinkRefused(CovenantError):
    """This link is not valid or has expired. Ask for a new copy."""

    status = 404


@dataclass(frozen=True, slots=True)
class Delivered:
    expires_at: dt.datetime
    bytes: int
    downloads: int
    deleted: bool


class Packages:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        keys: Keys,
        folder: Path,
        public_url: str,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.sealer = keys.sealer()
        self.folder = folder
        self.public_url = public_url.rstrip("/")
        self.audit = audit
        self.clock = clock

    def keep(self, request_id: str, package: Path, *, days: int) -> None:
        """Encrypt ``package`` for the request and record its link; a second call keeps the first."""
        if self.delivered(request_id) is not None:
            return
        now = self.clock()
        key = files.new_file_key()
        name = secrets.token_hex(16) + ".pkg"
        size = files.encrypt_file(package, self.folder / name, key)
        token = secrets.token_urlsafe(32)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    deliveries.insert(),
                    {
                        "request_id": request_id,
                        "file": name,
                        "key": self.sealer.seal(key),
                        "token_hash": files.token_hash(token, self.keys.derive("delivery-link")),
                        "token_sealed": self.sealer.seal(token),
                        "sha256": _sha256(package),
                        "bytes": size,
                        "expires_at": now + dt.timedelta(days=days),
                    },
                )
        except sa.exc.IntegrityError:
            # A concurrent run delivered first; its file and link stand, ours goes.
            (self.folder / name).unlink(missing_ok=True)

    def link(self, request_id: str) -> str | None:
        """The download link, for the completion message; None once expired."""
        with self.engine.connect() as conn:
            sealed = conn.execute(
                sa.select(deliveries.c.token_sealed).where(
                    deliveries.c.request_id == request_id, deliveries.c.deleted_at.is_(None)
                )
            ).scalar_one_or_none()
        if not sealed:
            return None
        token = self.sealer.open_text(sealed)
        return f"{self.public_url}/privacy/download/{request_id}/{token}"

    def download(self, request_id: str, token: str) -> tuple[Iterator[bytes], str]:
        """The package, decrypted as it streams, and its file name; refused after expiry."""
        now = self.clock()
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(deliveries).where(deliveries.c.request_id == request_id)
            ).one_or_none()
        key = self.keys.derive("delivery-link")
        usable = row is not None and row.deleted_at is None and now < row.expires_at
        if row is None or not files.same_token(token, row.token_hash, key) or not usable:
            raise LinkRefused()
        with self.engine.begin() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.request_id == request_id)
                .values(downloads=deliveries.c.downloads + 1)
            )
        event = ExportDownloaded(
            actor="consumer", subject_ref=request_id, package_ref=row.sha256[:16]
        )
        self.audit.append(event, at=now)
        chunks = files.decrypt_stream(self.folder / row.file, self.sealer.open(row.key))
        return chunks, f"my-data-{request_id[:8]}.zip"

    def delivered(self, request_id: str) -> Delivered | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(deliveries).where(deliveries.c.request_id == request_id)
            ).one_or_none()
        if row is None:
            return None
        return Delivered(row.expires_at, row.bytes, row.downloads, row.deleted_at is not None)

    def expire(self) -> int:
        """Delete the files whose links expired, and drop their keys: how many."""
        now = self.clock()
        with self.engine.begin() as conn:
            due = conn.execute(
                sa.select(deliveries.c.request_id, deliveries.c.file).where(
                    deliveries.c.expires_at <= now, deliveries.c.deleted_at.is_(None)
                )
            ).all()
            for row in due:
                (self.folder / row.file).unlink(missing_ok=True)
            if due:
                conn.execute(
                    deliveries.update()
                    .where(deliveries.c.request_id.in_([r.request_id for r in due]))
                    .values(deleted_at=now, key="", token_sealed="")
                )
        return len(due)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
