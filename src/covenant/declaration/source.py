"""Reading YAML files while remembering where every key came from.

Validation must point at a file, a line and a key path, never at a stack trace,
so the loader keeps a map from key path to line for every node it builds. It
does no other I/O than reading the files it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from covenant.errors import Problem

Path_ = tuple[str | int, ...]

MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass
class SourceFile:
    """A parsed YAML document and the line of each key path in it."""

    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Iterable[str | int]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def problem(self, path: Iterable[str | int], message: str) -> Problem:
        key = tuple(path)
        return Problem(str(self.path), self.line(key), dotted(key), message)


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read(path: Path) -> SourceFile:
    """Parse ``path``; raise :class:`SourceProblem` with a located message on failure."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceProblem(
            Problem(str(path), None, "", f"cannot read file: {exc.strerror}")
        ) from None
    if size > MAX_FILE_BYTES:
        raise SourceProblem(
            Problem(str(path), None, "", f"file is larger than {MAX_FILE_BYTES} bytes")
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SourceProblem(Problem(str(path), None, "", "file is not UTF-8 text")) from None
    except OSError as exc:
        raise SourceProblem(
            Problem(str(path), None, "", f"cannot read file: {exc.strerror}")
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        msg = f"malformed YAML: {exc.problem or exc}"
        raise SourceProblem(Problem(str(path), line, "", msg)) from None
    except yaml.YAMLError as exc:
        raise SourceProblem(Problem(str(path), None, "", f"malformed YAML: {exc}")) from None
    source = SourceFile(path=path, data=None)
    try:
        source.data = _build(node, (), source.lines, set()) if node is not None else None
    except _AliasFound as exc:
        msg = "YAML anchors and aliases are not supported: write each value where it applies"
        raise SourceProblem(Problem(str(path), exc.line, "", msg)) from None
    return source


class _AliasFound(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class SourceProblem(Exception):
    """A file that could not be parsed at all; carries one located problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int], seen: set[int]) -> Any:
    # An alias makes the composer hand back the same node twice; refusing that
    # stops both self-referencing documents and exponential "alias bombs".
    if isinstance(node, yaml.CollectionNode):
        if id(node) in seen:
            raise _AliasFound(node.start_mark.line + 1)
        seen.add(id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if isinstance(key, bool | int | float) or key is None:
                key = str(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            if key == "<<":
                continue  # merge keys are not supported; they would hide where values came from
            out[key] = _build(value_node, (*path, key), lines, seen)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, seen) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return "<complex key>"
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
