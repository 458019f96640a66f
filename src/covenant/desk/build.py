"""Building a desk from settings: what ``covenant serve`` and ``covenant worker`` share."""

from __future__ import annotations

import email.utils
import os
from pathlib import Path

from covenant.audit import AuditLog, key_from_env
from covenant.db import connect, state_url
from covenant.declaration import Loaded, load
from covenant.desk.service import Desk, Queue
from covenant.keys import Keys, load_secret
from covenant.mail.outbox import Outbox
from covenant.requests.store import RequestStore
from covenant.settings import Settings

FILES_DIR = "covenant-files"


def keys_for(settings: Settings, folder: Path) -> Keys:
    raw = settings.secret_key.get_secret_value() if settings.secret_key else None
    return load_secret(raw, folder=folder, development=settings.development)


def desk_from_settings(
    settings: Settings,
    *,
    loaded: Loaded | None = None,
    queue: Queue | None = None,
    environ: dict[str, str] | None = None,
) -> Desk:
    """The desk for ``settings``: the declaration, Covenant's own database, keys, outbox.

    Covenant's own database is ``COVENANT_DATABASE_URL``, else SQLite beside
    the declaration; packages wait in ``covenant-files/`` beside the declaration
    (a folder every worker must share when workers run on several machines).
    """
    loaded = loaded or load(settings.config)
    folder = loaded.path.resolve().parent
    raw = settings.database_url.get_secret_value() if settings.database_url else None
    engine = connect(state_url(raw, folder))
    keys = keys_for(settings, folder)
    audit = AuditLog(engine, key=key_from_env(environ if environ is not None else dict(os.environ)))
    return Desk(
        loaded=loaded,
        store=RequestStore(engine, audit=audit),
        keys=keys,
        outbox=Outbox(engine, keys.sealer(), domain=_domain(settings.mail_from)),
        files_dir=folder / FILES_DIR,
        public_url=settings.public_url,
        queue=queue,
    )


def fulfil(settings: Settings, request_id: str) -> None:
    """Fulfil one request in a fresh desk: for a worker that holds no desk of its own."""
    desk = desk_from_settings(settings)
    try:
        desk.fulfil(request_id)
    finally:
        desk.close()


def _domain(mail_from: str) -> str:
    """The right side of Message-IDs: the domain of ``COVENANT_MAIL_FROM``."""
    address = email.utils.parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "localhost"
