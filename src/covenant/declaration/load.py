"""Loading ``covenant.yml`` and the Fides dataset files it includes.

Everything wrong is reported at once, each problem with its file, line and key
path; nothing here raises a bare stack trace at the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fideslang.models import Dataset
from pydantic import ValidationError

from covenant.declaration.catalog import Catalog, build_catalog
from covenant.declaration.locate import Locator
from covenant.declaration.model import DatasetEntry, Declaration
from covenant.declaration.source import Path_, SourceFile, SourceProblem, read
from covenant.declaration.taxonomy import Taxonomy
from covenant.declaration.validate import validate
from covenant.errors import DeclarationError, Problem


@dataclass(frozen=True)
class Loaded:
    """A valid declaration, its index, and the folder relative paths start from."""

    declaration: Declaration
    catalog: Catalog
    taxonomy: Taxonomy
    base_dir: Path
    path: Path
    locator: Locator = field(compare=False, repr=False)
    """Where each part of the declaration was read from, for located messages."""


def load(path: str | Path) -> Loaded:
    """Load and validate a declaration; raise :class:`DeclarationError` listing every problem."""
    path = Path(path)
    try:
        main = read(path)
    except SourceProblem as exc:
        raise DeclarationError([exc.problem]) from None
    if not isinstance(main.data, dict):
        raise DeclarationError([main.problem((), "the declaration must be a YAML mapping")])
    problems: list[Problem] = []
    locator = Locator(main=main)
    datasets, systems_of = _datasets(main, locator, problems)
    top = {k: v for k, v in main.data.items() if k != "datasets"}
    declaration = None
    try:
        declaration = Declaration.model_validate({**top, "datasets": []})
    except ValidationError as exc:
        problems.extend(_shape_problems(exc, main, ()))
    if declaration is None:
        raise DeclarationError(problems)
    declaration = declaration.model_copy(update={"datasets": datasets})
    catalog = build_catalog(datasets, systems_of)
    taxonomy = Taxonomy(declaration.taxonomy.data_categories)
    problems.extend(validate(declaration, catalog, taxonomy, locator, systems_of))
    if problems:
        raise DeclarationError(problems)
    return Loaded(declaration, catalog, taxonomy, path.parent.resolve(), path.resolve(), locator)


def _datasets(
    main: SourceFile, locator: Locator, problems: list[Problem]
) -> tuple[list[Dataset], dict[str, str]]:
    entries = main.data.get("datasets")
    if entries is None:
        problems.append(main.problem((), "missing 'datasets': declare at least one dataset"))
        return [], {}
    if not isinstance(entries, list):
        problems.append(main.problem(("datasets",), "must be a list"))
        return [], {}
    datasets: list[Dataset] = []
    systems_of: dict[str, str] = {}
    for i, raw in enumerate(entries):
        try:
            entry = DatasetEntry.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_shape_problems(exc, main, ("datasets", i)))
            continue
        if (entry.include is None) == (entry.dataset is None):
            problems.append(
                main.problem(("datasets", i), "give exactly one of 'include' or 'dataset'")
            )
            continue
        for source, prefix, body in _bodies(main, i, entry, problems):
            try:
                ds = Dataset.model_validate(body)
            except ValidationError as exc:
                problems.extend(_shape_problems(exc, source, prefix))
                continue
            if ds.fides_key in locator.datasets:
                problems.append(
                    source.problem(prefix, f"dataset '{ds.fides_key}' is declared twice")
                )
                continue
            if "." in ds.fides_key:
                problems.append(
                    source.problem((*prefix, "fides_key"), "a dataset key cannot contain '.'")
                )
                continue
            locator.datasets[ds.fides_key] = (source, prefix)
            locator.entries[ds.fides_key] = i
            locator.index(ds.fides_key, body)
            systems_of[ds.fides_key] = entry.system
            datasets.append(ds)
    return datasets, systems_of


def _bodies(
    main: SourceFile, i: int, entry: DatasetEntry, problems: list[Problem]
) -> list[tuple[SourceFile, Path_, Any]]:
    if entry.dataset is not None:
        return [(main, ("datasets", i, "dataset"), entry.dataset)]
    assert entry.include is not None
    try:
        included = read(main.path.parent / entry.include)
    except SourceProblem as exc:
        problems.append(exc.problem)
        return []
    body = included.data.get("dataset") if isinstance(included.data, dict) else None
    if not isinstance(body, list):
        problems.append(included.problem((), "a Fides dataset file holds a 'dataset:' list"))
        return []
    return [(included, ("dataset", j), ds) for j, ds in enumerate(body)]


def _shape_problems(exc: ValidationError, source: SourceFile, prefix: Path_) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = f"required key '{loc[-1]}' is missing" if loc else "required key is missing"
        out.append(source.problem((*prefix, *_present(source, prefix, loc)), message))
    return out


def _present(source: SourceFile, prefix: Path_, loc: Path_) -> Path_:
    """Drop the type names pydantic adds to a location inside a union."""
    kept: list[str | int] = []
    for part in loc:
        if (*prefix, *kept, part) in source.lines:
            kept.append(part)
    return tuple(kept) if kept else loc[:1]
