"""One run of the engine against a store: the connectors it opened and the clock it uses."""

from __future__ import annotations

import datetime as dt
from types import TracebackType

from covenant.connectors.base import Connector, connector_for
from covenant.declaration import Loaded
from covenant.errors import ConnectorError


class Session:
    """Opens one connector per system on first use and closes them all at the end."""

    def __init__(self, loaded: Loaded, *, now: dt.datetime | None = None) -> None:
        self.loaded = loaded
        self.now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self._connectors: dict[str, Connector] = {}

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
            self._connectors[system_key] = connector_for(system, mine, self.loaded.base_dir)
        return self._connectors[system_key]

    def is_manual(self, collection: str) -> bool:
        """True when the collection's system has no connection: people handle it."""
        key = self.loaded.catalog.collections[collection].system
        system = next((s for s in self.loaded.declaration.systems if s.key == key), None)
        return system is None or system.connection is None

    def system_of(self, collection: str) -> str:
        return self.loaded.catalog.collections[collection].system or ""

    def close(self) -> None:
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
