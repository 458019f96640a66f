"""Connectors: how the engine reaches a store's databases.

Built-in connectors register through the ``covenant.connectors`` entry-point
group, the same extension point a third-party connector (HTTP/SaaS, MongoDB)
uses. See :mod:`covenant.connectors.base` for the interface.
"""

from covenant.connectors.base import (
    Connector,
    Delete,
    Hash,
    Match,
    Mutation,
    Selector,
    SetNull,
    SetValue,
    Update,
    connector_for,
)

__all__ = [
    "Connector",
    "Delete",
    "Hash",
    "Match",
    "Mutation",
    "Selector",
    "SetNull",
    "SetValue",
    "Update",
    "connector_for",
]
