"""YAML as people write it: parsed safely, and a key given twice in one mapping is an error naming both lines.

PyYAML keeps the last of two equal keys without a word; in a governance file that silently drops a journey's owner
or a transition's approval rule, so every YAML file the engine reads goes through here.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

from govern.errors import InvalidInput


class DuplicateKey(ConstructorError):
    """A mapping repeats a key; `line` and `first_line` are 1-based."""

    def __init__(self, key: Any, line: int, first_line: int, mark):
        super().__init__(None, None, f"duplicate key '{key}' (first given on line {first_line})", mark)
        self.key, self.line, self.first_line = key, line, first_line


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a repeated key in any mapping (merge keys `<<` excepted)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise DuplicateKey(key, key_node.start_mark.line + 1, first, key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str = "YAML") -> Any:
    """Parse YAML text; InvalidInput naming the line (and column) of a syntax error or of a repeated key."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKey as exc:
        where = f"line {exc.line}"
        raise InvalidInput(f"{source}: {where}: duplicate key '{exc.key}' (first given on line {exc.first_line})",
                           {where: f"duplicate key '{exc.key}' (first given on line {exc.first_line}); a key may "
                                   f"appear once per mapping"}) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{source}: not valid YAML at {where}: {problem}", {where: str(problem)}) from None
