"""Documents a requester sends with a request: an agent's signed permission, proof for a correction.

Only PDF, PNG and JPEG are taken, recognised by their first bytes rather than
by the name or type the browser claims, and at most :data:`MAX_BYTES`. Each is
encrypted at rest like a package (:mod:`covenant.desk.delivery`) under its own
key, which is kept in the request's sealed details; staff read it in the
console. Pure apart from the file write.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from covenant.desk import delivery as files
from covenant.errors import CovenantError

MAX_BYTES = 5 * 1024 * 1024
KINDS = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


class DocumentRefused(CovenantError):
    """The file was not accepted."""

    status = 400


@dataclass(frozen=True, slots=True)
class Stored:
    file: str
    key: str
    """The file's key, base64; only ever kept inside the sealed details."""
    media_type: str
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "key": self.key,
            "media_type": self.media_type,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


def media_type(head: bytes) -> str:
    """The document's type from its first bytes; refused when it is none of PDF, PNG, JPEG."""
    for magic, kind in KINDS.items():
        if head.startswith(magic):
            return kind
    raise DocumentRefused("Send the document as a PDF, PNG or JPEG file.")


def store(content: bytes, folder: Path) -> Stored:
    """Encrypt ``content`` into ``folder``; refuse what is empty, too large or not a document."""
    if not content:
        raise DocumentRefused("The file is empty.")
    if len(content) > MAX_BYTES:
        raise DocumentRefused(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    kind = media_type(content[:16])
    folder.mkdir(parents=True, exist_ok=True)
    key = files.new_file_key()
    name = secrets.token_hex(16) + ".doc"
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp") as plain:
        plain.write(content)
        plain.flush()
        files.encrypt_file(Path(plain.name), folder / name, key)
    return Stored(
        name,
        base64.b64encode(key).decode(),
        kind,
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
