"""Finding the file and line of a place in the declaration, for violations.

The loader builds a :class:`~covenant.declaration.locate.Locator` while it
reads the files and keeps it on ``Loaded.locator``; the rules use it as is and
never read files themselves.
"""

from __future__ import annotations

from covenant.declaration import Loaded
from covenant.declaration.locate import Locator


def locator_of(loaded: Loaded) -> Locator:
    return loaded.locator
