"""The access package: the zip a person receives for an access or portability request.

The engine streams one person's rows into a :class:`PackageWriter`, collection
by collection. Each collection is spooled to private temporary files as it
arrives (a JSON fragment, a CSV file, and the first rows for the HTML report),
so memory stays bounded whatever the row count. :meth:`PackageWriter.finish`
then assembles the zip by concatenating the spools and moves it into place
atomically. The zip holds:

- ``data.json``: every row, machine-readable and portable (GDPR Art. 20);
- ``csv/<collection>.csv``: the same rows for spreadsheets;
- ``report.html``: an accessible report grouped by data category, showing at
  most :data:`HTML_ROWS` rows per collection;
- ``categories.json``: the categories report (CCPA right to know);
- ``README.txt``: what each file is, in plain words.

This module owns the package's format and files. It must never query a
database, decide which rows or columns belong to the person (the engine does,
and has already removed withheld columns), hold every row in memory, or leave
a partial zip or spooled personal data behind.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import functools
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import jinja2

from covenant.declaration.load import Loaded
from covenant.engine.report import CategoriesReport, categories_report

FORMAT = "covenant-access/1"
CATEGORIES_FORMAT = "covenant-categories/1"
HTML_ROWS = 500
"""Rows per collection shown in report.html; every row is in data.json and the CSVs."""
HTML_CELL_CHARS = 1000
"""Longer values are cut short in report.html only."""
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cell starts that a spreadsheet would run as a formula (OWASP's list)."""
_FORMULA_STARTS = frozenset(FORMULA_PREFIXES)
OTHER_GROUP = "other"
"""The HTML group of fields that carry no personal category (order numbers, dates)."""

_COPY_CHUNK = 1 << 20
_ZIP64_SAFE = (1 << 31) - (64 << 20)
"""Below this, a streamed zip member cannot outgrow the 2 GiB limit of plain headers."""


@dataclass(frozen=True, slots=True)
class PackageSummary:
    path: Path
    sha256: str
    size_bytes: int
    rows: Mapping[str, int]
    """Rows written per collection, in the order the engine sent them."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class _Spool:
    """One collection's temporary files and counters."""

    key: str
    columns: tuple[str, ...]
    json_path: Path
    csv_path: Path
    preview_path: Path
    rows: int = 0
    json_chars: int = 0


class _SpoolFiles:
    """The open handles of the collection being written; closed by ``end()``."""

    def __init__(self, spool: _Spool) -> None:
        with ExitStack() as opened:  # if one open fails, close the others
            # backslashreplace: a lone surrogate from a badly encoded column becomes
            # "\udcxx", which inside a JSON string is exactly the escape for it.
            self.json = opened.enter_context(
                open(spool.json_path, "x", encoding="utf-8", errors="backslashreplace")
            )
            # A byte-order mark, so spreadsheet programs read the file as UTF-8.
            self.csv = opened.enter_context(
                open(
                    spool.csv_path, "x", encoding="utf-8-sig", errors="backslashreplace", newline=""
                )
            )
            self.preview = opened.enter_context(open(spool.preview_path, "x", encoding="ascii"))
            self.csv_writer = csv.writer(self.csv)
            self.csv_writer.writerow(spool.columns)
            self._files = opened.pop_all()

    def close(self) -> None:
        self._files.close()


class PackageWriter:
    """A streaming sink for one access package.

    Call :meth:`begin`, :meth:`write` (any number of times) and :meth:`end` once
    per collection, then :meth:`finish`; or :meth:`abort` at any point, and after
    any error. Used as a context manager, leaving the block without
    :meth:`finish` aborts. ``out``'s folder must exist; the spools live there too.
    """

    def __init__(
        self,
        out: Path,
        loaded: Loaded,
        *,
        identities: Mapping[str, str],
        request_id: str,
        generated_at: dt.datetime,
        html_rows: int = HTML_ROWS,
    ) -> None:
        if generated_at.tzinfo is None:
            raise ValueError("generated_at must be timezone-aware")
        self._out = Path(out)
        self._loaded = loaded
        self._identities = dict(identities)
        self._request_id = request_id
        self._generated_at = generated_at.astimezone(dt.UTC)
        self._html_rows = html_rows
        self._descriptions = _descriptions(loaded)
        self._spools: list[_Spool] = []
        self._current: tuple[_Spool, _SpoolFiles] | None = None
        # Beside the destination so os.replace stays on one filesystem; mkdtemp
        # makes it 0700, so spooled personal data is private to this user.
        self._dir: Path | None = Path(tempfile.mkdtemp(prefix=SPOOL_PREFIX, dir=self._out.parent))

    # -- the engine's side -----------------------------------------------------

    def begin(self, collection: str, columns: Sequence[str]) -> None:
        directory = self._require_open()
        if self._current is not None:
            raise RuntimeError(f"begin({collection!r}) before end() of {self._current[0].key!r}")
        if collection not in self._loaded.catalog.collections:
            raise ValueError(f"collection {collection!r} is not in the declaration")
        if any(s.key == collection for s in self._spools):
            raise ValueError(f"collection {collection!r} was already written")
        if len(set(columns)) != len(columns):
            raise ValueError(f"duplicate column names for {collection!r}: {list(columns)}")
        n = len(self._spools)
        spool = _Spool(
            key=collection,
            columns=tuple(columns),
            json_path=directory / f"{n:04d}.json",
            csv_path=directory / f"{n:04d}.csv",
            preview_path=directory / f"{n:04d}.preview.jsonl",
        )
        self._current = (spool, _SpoolFiles(spool))

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append a batch of rows, each a sequence of values in ``columns`` order."""
        self._require_open()
        if self._current is None:
            raise RuntimeError("write() outside begin()/end()")
        spool, files = self._current
        if not rows:
            return
        width = len(spool.columns)
        for row in rows:
            if len(row) != width:
                raise ValueError(f"{spool.key}: a row has {len(row)} values for {width} columns")
        chunk = ",\n".join(json_row(spool.columns, row) for row in rows)
        chunk = ",\n" + chunk if spool.rows else chunk
        files.json.write(chunk)
        spool.json_chars += len(chunk)
        files.csv_writer.writerows([csv_cell(v) for v in row] for row in rows)
        for row in rows[: max(self._html_rows - spool.rows, 0)]:
            files.preview.write(json.dumps([display(v) for v in row]) + "\n")
        spool.rows += len(rows)

    def end(self) -> None:
        self._require_open()
        if self._current is None:
            raise RuntimeError("end() without begin()")
        spool, files = self._current
        files.close()
        self._spools.append(spool)
        self._current = None

    def finish(self) -> PackageSummary:
        """Assemble the zip, move it to ``out`` atomically and remove the spools."""
        directory = self._require_open()
        if self._current is not None:
            raise RuntimeError(f"finish() before end() of {self._current[0].key!r}")
        try:
            tmp = directory / "package.zip"
            self._assemble(tmp, categories_report(self._loaded, self.rows))
            digest, size = _sha256(tmp)
            os.replace(tmp, self._out)
            _fsync_dir(self._out.parent)
        except BaseException:
            self.abort()
            raise
        summary = PackageSummary(self._out, digest, size, self.rows)
        self.abort()
        return summary

    def abort(self) -> None:
        """Remove every temporary file. Safe to call twice, or after :meth:`finish`."""
        if self._current is not None:
            self._current[1].close()
            self._current = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def rows(self) -> dict[str, int]:
        """Rows written per ended collection."""
        return {s.key: s.rows for s in self._spools}

    def __enter__(self) -> PackageWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

    def _require_open(self) -> Path:
        if self._dir is None:
            raise RuntimeError("the package was already finished or aborted")
        return self._dir

    # -- assembly --------------------------------------------------------------

    def _assemble(self, path: Path, report: CategoriesReport) -> None:
        view = _View(
            self._loaded,
            report,
            self._spools,
            identities=self._identities,
            request_id=self._request_id,
            generated_at=self._generated_at,
            html_rows=self._html_rows,
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw:
            with ZipFile(raw, "w", compression=ZIP_DEFLATED) as zf:
                self._add_text(zf, "README.txt", _render("access/README.txt", view.context()))
                with self._member(zf, "data.json", self._data_json_estimate()) as out:
                    self._write_data_json(out)
                for spool, name in zip(self._spools, _csv_names(self._spools), strict=True):
                    with self._member(zf, name, spool.csv_path.stat().st_size) as out:
                        _copy(spool.csv_path, out)
                self._add_text(zf, "report.html", _render("access/report.html", view.context()))
                self._add_text(zf, "categories.json", [self._categories_json(report)])
            raw.flush()
            os.fsync(raw.fileno())

    @contextmanager
    def _member(self, zf: ZipFile, name: str, estimate: int) -> Iterator[IO[bytes]]:
        # A fixed timestamp and mode, so the same answer yields the same zip.
        info = ZipInfo(name, date_time=self._generated_at.timetuple()[:6])
        info.compress_type = ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        with zf.open(info, "w", force_zip64=estimate >= _ZIP64_SAFE) as out:
            yield out

    def _add_text(self, zf: ZipFile, name: str, pieces: Iterator[str] | list[str]) -> None:
        # Rendered text arrives in pieces; the HTML report can run to megabytes.
        # Pieces are tiny (a tag, a cell); joining them into ~64 KiB blocks
        # saves a compressor call per piece without holding the whole text.
        with self._member(zf, name, 0) as out:
            block: list[str] = []
            size = 0
            for piece in pieces:
                block.append(piece)
                size += len(piece)
                if size >= 65536:
                    out.write(_encode("".join(block)))
                    block, size = [], 0
            if block:
                out.write(_encode("".join(block)))

    def _data_json_estimate(self) -> int:
        # UTF-8 takes at most 3 bytes per character counted while spooling.
        return sum(s.json_chars for s in self._spools) * 3 + (1 << 20)

    def _write_data_json(self, out: IO[bytes]) -> None:
        """Concatenate the spooled fragments: rows never sit in memory together."""
        head = {
            "format": FORMAT,
            "request_id": self._request_id,
            "generated_at": _iso_utc(self._generated_at),
            "controller": self._controller(),
            "subject": {"identities": self._identities},
        }
        out.write(_encode(_open_object(head) + ',\n"collections": {'))
        for i, spool in enumerate(self._spools):
            meta = _open_object(self._collection_meta(spool))
            comma = "," if i else ""
            out.write(_encode(f'{comma}\n{json.dumps(spool.key)}: {meta}, "rows": ['))
            if spool.rows:
                out.write(b"\n")
                _copy(spool.json_path, out)
                out.write(b"\n")
            out.write(b"]}")
        out.write(b"\n}\n}\n")

    def _controller(self) -> dict[str, Any]:
        org = self._loaded.declaration.organization
        contact = {
            "email": org.contacts.privacy_email,
            "phone": org.contacts.privacy_phone,
            "postal_address": org.contacts.postal_address,
            "web_form": org.contacts.web_form,
        }
        return {
            "organization": org.name,
            "controller": org.controller,
            "contact": {k: v for k, v in contact.items() if v},
        }

    def _collection_meta(self, spool: _Spool) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        description = self._descriptions.get(spool.key)
        if description:
            meta["description"] = description
        meta["fields"] = [
            {"name": c, "categories": list(_categories_of(self._loaded, spool.key, c))}
            for c in spool.columns
        ]
        meta["row_count"] = spool.rows
        return meta

    def _categories_json(self, report: CategoriesReport) -> str:
        body = {
            "format": CATEGORIES_FORMAT,
            "request_id": self._request_id,
            "generated_at": _iso_utc(self._generated_at),
            **report.to_dict(),
        }
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


SPOOL_PREFIX = ".covenant-package-"


def remove_stale_spools(folder: Path, *, older_than: dt.timedelta) -> int:
    """Remove spool folders a crashed process left in ``folder``; return how many.

    :meth:`PackageWriter.abort` cannot run when the process is killed, and the
    spools hold personal data. Only folders untouched for ``older_than`` go, so
    a writer still running in another process keeps its own.
    """
    cutoff = dt.datetime.now(dt.UTC).timestamp() - older_than.total_seconds()
    removed = 0
    for path in folder.glob(SPOOL_PREFIX + "*"):
        if path.is_dir() and not path.is_symlink() and path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


# -- the human-readable view ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    label: str
    """Plain-language names of the field's categories; "Record identifier" for context."""
    context: bool = False
    """A primary key repeated in every group, so rows can be matched across tables."""


@dataclass(frozen=True, slots=True)
class Table:
    """One collection's fields of one category group, read lazily from the preview spool."""

    id: str
    collection: str
    description: str
    columns: tuple[Column, ...]
    indices: tuple[int, ...]
    total: int
    shown: int
    preview: Path

    def rows(self) -> Iterator[list[str | None]]:
        with open(self.preview, encoding="ascii") as f:
            for line in f:
                values = json.loads(line)
                yield [values[i] for i in self.indices]


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    label: str
    description: str
    tables: tuple[Table, ...]


class _View:
    """What the README and the HTML report show, built from the spools' metadata."""

    def __init__(
        self,
        loaded: Loaded,
        report: CategoriesReport,
        spools: Sequence[_Spool],
        *,
        identities: Mapping[str, str],
        request_id: str,
        generated_at: dt.datetime,
        html_rows: int,
    ) -> None:
        self.loaded = loaded
        self.report = report
        self.spools = spools
        self.identities = identities
        self.request_id = request_id
        self.generated_at = generated_at
        self.html_rows = html_rows
        self.descriptions = _descriptions(loaded)

    def context(self) -> dict[str, Any]:
        declaration = self.loaded.declaration
        labels = {i.key: i.label for i in declaration.identities}
        withheld = declaration.access.exclude_categories
        return {
            "org": declaration.organization,
            "contacts": declaration.organization.contacts,
            "request_id": self.request_id,
            "generated_at": f"{self.generated_at:%Y-%m-%d %H:%M} UTC",
            "identities": [(labels.get(k, k), v) for k, v in self.identities.items()],
            "report": self.report,
            "searched": [(s.key, self.descriptions.get(s.key, ""), s.rows) for s in self.spools],
            "total_rows": sum(s.rows for s in self.spools),
            "groups": self.groups(),
            "html_rows": self.html_rows,
            "withheld": [self.loaded.taxonomy.label(c) for c in withheld],
            "csv_files": [
                (s.key, name) for s, name in zip(self.spools, _csv_names(self.spools), strict=True)
            ],
        }

    def groups(self) -> list[Group]:
        tables: dict[str, list[Table]] = {}
        for n, spool in enumerate(self.spools):
            if spool.rows:
                for group, table in self._tables(n, spool):
                    tables.setdefault(group, []).append(table)
        label = self.loaded.taxonomy.label
        order = sorted(tables, key=lambda g: (g == OTHER_GROUP, label(g).casefold(), g))
        return [self._group(i, g, tables[g]) for i, g in enumerate(order)]

    def _group(self, n: int, key: str, tables: list[Table]) -> Group:
        # Ids carry an index: two keys may slug alike, and ids must be unique.
        if key == OTHER_GROUP:
            label = "Other details of your records"
            description = "Identifiers, dates and similar details that describe your records."
        else:
            term = self.loaded.taxonomy.categories.get(key)
            label = self.loaded.taxonomy.label(key)
            description = term.description if term else ""
        return Group(f"group-{n + 1}-{_slug(key)}", label, description, tuple(tables))

    def _tables(self, n: int, spool: _Spool) -> Iterator[tuple[str, Table]]:
        by_group: dict[str, list[int]] = {}
        for i, name in enumerate(spool.columns):
            by_group.setdefault(self._group_of(spool.key, name), []).append(i)
        keys = [
            i
            for i, c in enumerate(spool.columns)
            if (f := self.loaded.catalog.field(spool.key, c)) is not None and f.primary_key
        ]
        for group, fields in by_group.items():
            context = [i for i in keys if i not in fields]
            columns = [Column(spool.columns[i], "Record identifier", True) for i in context]
            columns += [self._column(spool.key, spool.columns[i], group) for i in fields]
            yield (
                group,
                Table(
                    id=f"t-{n + 1}-{_slug(group)}",
                    collection=spool.key,
                    description=self.descriptions.get(spool.key, ""),
                    columns=tuple(columns),
                    indices=tuple(context + fields),
                    total=spool.rows,
                    shown=min(spool.rows, self.html_rows),
                    preview=spool.preview_path,
                ),
            )

    def _group_of(self, collection: str, column: str) -> str:
        categories = _categories_of(self.loaded, collection, column)
        personal = [c for c in categories if c == "user" or c.startswith("user.")]
        return self.loaded.taxonomy.top_level(personal[0]) if personal else OTHER_GROUP

    def _column(self, collection: str, column: str, group: str) -> Column:
        if group == OTHER_GROUP:
            # "Operations Data" on every order number and date would tell a reader nothing.
            return Column(column, column.replace("_", " ").strip().capitalize() or column)
        categories = _categories_of(self.loaded, collection, column)
        return Column(column, "; ".join(self.loaded.taxonomy.label(c) for c in categories))


def _categories_of(loaded: Loaded, collection: str, column: str) -> tuple[str, ...]:
    f = loaded.catalog.field(collection, column)
    return f.categories if f is not None else ()


def _slug(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("covenant.engine", "templates"),
        # The package's data is the store's and the person's: hostile until escaped.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), disabled_extensions=("txt",), default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["number"] = _number
    env.tests["web_url"] = _is_web_url
    return env


def _is_web_url(value: object) -> bool:
    # Only http(s) becomes a link: a "javascript:" URL in a declaration must never be clickable.
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


def _number(n: int) -> str:
    return f"{n:,}"


def _render(name: str, context: Mapping[str, Any]) -> Iterator[str]:
    return _environment().get_template(name).generate(**context)


# -- value encoding ------------------------------------------------------------


def _default(value: Any) -> Any:
    return portable(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_default)


def json_row(columns: Sequence[str], row: Sequence[Any]) -> str:
    """One row as a JSON object, ``{column: value}``."""
    try:
        return _ENCODER.encode(dict(zip(columns, row, strict=True)))
    except ValueError:
        # NaN and infinities have no JSON form; rare, so only then pay for a second pass.
        return _ENCODER.encode({c: _finite(v) for c, v in zip(columns, row, strict=True)})


def portable(value: Any) -> Any:
    """A JSON-ready form of a value JSON has no type for: ISO 8601, base64, exact decimals."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # a float would lose digits of money amounts
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.timedelta):
        return _iso_duration(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    # UUIDs, IP addresses, ranges...: their text form is what a person can read,
    # and failing the whole request over an exotic column type helps nobody.
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _iso_duration(value: dt.timedelta) -> str:
    seconds = value.total_seconds()
    amount = f"{abs(seconds):.6f}".rstrip("0").rstrip(".")
    return f"{'-' if seconds < 0 else ''}PT{amount}S"


def text(value: Any) -> str:
    """A value as the text a person reads in a CSV cell or the HTML report."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=_default)
    return str(portable(value))


def csv_cell(value: Any) -> str:
    """A CSV cell, with text that a spreadsheet would run as a formula defused.

    Numbers are never prefixed: ``-5`` is a number, not a formula. Any other
    cell starting with ``= + - @``, a tab or a carriage return gets a leading
    apostrophe, which spreadsheets show as text. data.json keeps exact values.
    """
    kind = type(value)
    if kind is str:  # the common case, first: this runs once per cell
        string: str = value
        return "'" + string if string[:1] in _FORMULA_STARTS else string
    if kind is int or kind is float or kind is Decimal:
        return str(value)
    cell = text(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return cell
    return "'" + cell if cell[:1] in _FORMULA_STARTS else cell


def display(value: Any) -> str | None:
    """A value for the HTML report: None stays None, long text is cut short."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return f"(binary data, {len(bytes(value)):,} bytes)"
    shown = text(value)
    if len(shown) > HTML_CELL_CHARS:
        return shown[:HTML_CELL_CHARS] + "… (cut short here; the full value is in data.json)"
    return shown


# -- files ---------------------------------------------------------------------


def _csv_names(spools: Sequence[_Spool]) -> Iterator[str]:
    seen: set[str] = set()
    for spool in spools:
        # Collection names come from the declaration; keep zip paths plain all the same.
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", spool.key).lstrip(".") or "collection"
        name, n = f"csv/{stem}.csv", 1
        while name in seen:
            n += 1
            name = f"csv/{stem}-{n}.csv"
        seen.add(name)
        yield name


def _copy(path: Path, out: IO[bytes]) -> None:
    with open(path, "rb") as src:
        shutil.copyfileobj(src, out, _COPY_CHUNK)


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_COPY_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    # Makes the rename durable where the platform allows opening a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _open_object(mapping: Mapping[str, Any]) -> str:
    """A JSON object without its closing brace, so more members can follow."""
    return json.dumps(mapping, ensure_ascii=False, default=_default)[:-1]


def _encode(s: str) -> bytes:
    return s.encode("utf-8", "backslashreplace")


def _iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _descriptions(loaded: Loaded) -> dict[str, str]:
    return {
        f"{ds.fides_key}.{c.name}": c.description or ""
        for ds in loaded.declaration.datasets
        for c in ds.collections
    }
