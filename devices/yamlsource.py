"""YAML parsing that remembers where each value came from, so errors can say file:line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from pydantic import ValidationError

Path = tuple[str | int, ...]


class ConfigError(ValueError):
    """A user-supplied file is wrong. `str()` reads `file:line: where: what`."""

    def __init__(self, source: str, line: int | None, where: str, what: str) -> None:
        self.source = source
        self.line = line
        self.where = where
        self.what = what
        position = f"{source}:{line}" if line is not None else source
        super().__init__(f"{position}: {where + ': ' if where else ''}{what}")


class LineMap:
    """Maps a path into the parsed document (keys and list indices) to its 1-based line."""

    def __init__(self, lines: dict[Path, int]) -> None:
        self._lines = lines

    def line_of(self, path: Iterable[str | int]) -> int | None:
        # Walk up to the nearest ancestor we know: a missing key is reported at its parent.
        key = tuple(path)
        while key not in self._lines and key:
            key = key[:-1]
        return self._lines.get(key)


def parse_yaml(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse YAML text; a syntax error becomes a ConfigError with the line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _reject_duplicate_keys(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, line, "", f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, None, "", f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[Path, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, LineMap(lines)


def _reject_duplicate_keys(root: yaml.Node, source: str) -> None:
    """PyYAML keeps the last of two equal keys: a second `devices:` would drop the first list."""
    done: set[int] = set()  # an alias repeats a node
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in done:
            continue
        done.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                    key = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if key in first:
                        raise ConfigError(source, line, "", f"duplicate key {key_node.value!r} "
                                          f"(first on line {first[key]})")
                    first[key] = line
                todo.append(value_node)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _collect_lines(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            _collect_lines(value_node, (*path, key), lines)
            # Point at the key: the value of a block mapping starts on a later line.
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*path, index), lines)


def format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_error(
    exc: ValidationError, source: str, lines: LineMap, prefix: Path = ()
) -> ConfigError:
    """The first pydantic error as a ConfigError; the rest are counted in the message.

    `prefix` is where the validated document sits inside the file (e.g. `("site",)`).
    """
    errors = exc.errors()
    first = errors[0]
    loc = [*prefix, *(p for p in first["loc"] if isinstance(p, str | int))]
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    what = str(first["msg"])
    if first["type"] == "extra_forbidden":
        what = "unknown key (check the spelling)"
    return ConfigError(source, lines.line_of(loc), format_path(loc), what + more)


def expect_mapping(data: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(source, 1, "", "expected a mapping at the top of the file")
    return data
