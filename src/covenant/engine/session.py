"""One run of the engine against a store: the connectors it opened and the clock it uses."""

from __future__ import annotations

import datetime as dt
from types import TracebackType

from covenant.connectors.base import Connector, connector_for
from covenant.declaration import Loaded
from covenant.errors import ConnectorError


class Session:
    """Opens one connector per system on first use and closes them all at the end.

    ``shared`` lends the session connectors that outlive it: a service running
    many requests keeps one connection pool per store database instead of
    opening one per request. The session never closes what it was lent.
    """

    def __init__(
        self,
        loaded: Loaded,
        *,
        now: dt.datetime | None = None,
        shared: dict[str, Connector] | None = None,
    ) -> None:
        self.loaded = loaded
        self.now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self._owns = shared is None
        self._connectors: dict[str, Connector] = {} if shared is None else shared

    def connector(self, collection: str) -> Connector:
        info = self.loaded.catalog.collections[collection]
        system_key = info.system
        if system_key is None:
            raise ConnectorError(f"collection '{collection}' belongs to no system")
        if system_key not in self._connectors:
            system = next(s for s in self.loaded.declaration.systems if s.key == system_key)
            mine = {
                k: c for k, c in self.loaded.catalog.collections.items() if c.system == system_key
            }
            made = connector_for(system, mine, self.loaded.base_dir)
            kept = self._connectors.setdefault(system_key, made)
            if kept is not made:  # another thread lent the same system first
                made.close()
        return self._connectors[system_key]

    def is_manual(self, collection: str) -> bool:
        """True when the collection's system has no connection: people handle it."""
        key = self.loaded.catalog.collections[collection].system
        system = next((s for s in self.loaded.declaration.systems if s.key == key), None)
        return system is None or system.connection is None

    def system_of(self, collection: str) -> str:
        return self.loaded.catalog.collections[collection].system or ""

    def close(self) -> None:
        if not self._owns:
            return
        for c in self._connectors.values():
            c.close()
        self._connectors.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
