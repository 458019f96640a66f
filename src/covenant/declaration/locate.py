"""Turning a place in the declaration into a file, a line and a key path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from covenant.declaration.source import Path_, SourceFile
from covenant.errors import Problem


@dataclass
class Locator:
    main: SourceFile
    datasets: dict[str, tuple[SourceFile, Path_]] = field(default_factory=dict)
    """Dataset key -> the file that declares it and its path inside that file."""
    entries: dict[str, int] = field(default_factory=dict)
    """Dataset key -> its entry's index in the main file's ``datasets`` list."""
    collection_index: dict[str, int] = field(default_factory=dict)
    field_index: dict[tuple[str, str], int] = field(default_factory=dict)

    def index(self, dataset: str, body: dict[str, Any]) -> None:
        """Index collections and fields in file order (fideslang's model sorts them by name)."""
        collections = body.get("collections")
        for ci, coll in enumerate(collections if isinstance(collections, list) else []):
            if not (isinstance(coll, dict) and isinstance(coll.get("name"), str)):
                continue
            key = f"{dataset}.{coll['name']}"
            self.collection_index[key] = ci
            fields = coll.get("fields")
            for fi, f in enumerate(fields if isinstance(fields, list) else []):
                if isinstance(f, dict) and isinstance(f.get("name"), str):
                    self.field_index[(key, f["name"])] = fi

    def at(self, path: Path_, message: str) -> Problem:
        return self.main.problem(path, message)

    def in_dataset(self, collection: str, field_name: str | None, message: str) -> Problem:
        dataset = collection.split(".", 1)[0]
        source, prefix = self.datasets.get(dataset, (self.main, ("datasets",)))
        path: Path_ = prefix
        if collection in self.collection_index:
            path = (*path, "collections", self.collection_index[collection])
        if field_name is not None and (collection, field_name) in self.field_index:
            path = (*path, "fields", self.field_index[(collection, field_name)])
        named = collection + (f".{field_name}" if field_name else "")
        located = source.problem(path, message)
        return Problem(located.file, located.line, f"{located.path} ({named})", message)
