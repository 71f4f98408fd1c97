"""YAML (and JSON) as people write it, or as someone hostile sends it: parsed safely and within bounds.

Every YAML or JSON document the engine reads from outside goes through here (`govern apply`, `govern schema`, the
config endpoint over HTTP, `govern import`, lifecycle files). What it guarantees:

- A key given twice in one mapping is an error naming both lines (PyYAML would keep the last one without a word; in a
  governance file that silently drops a journey's owner or a transition's approval rule).
- Plain data only: mappings, lists, text, numbers, booleans, null and dates. A tag that names anything else (a
  Python object, a local `!tag`) is refused before anything is built.
- Bounded work, refused in milliseconds, never expanded: at most `MAX_YAML_BYTES` of text, nesting at most
  `MAX_DEPTH` levels, at most `MAX_ALIASES` aliases (`*name`), and at most `MAX_NODES` values in the document *as if
  every alias were written out* — an alias bomb ("billion laughs") is counted, not built. A file that is not text
  (NUL bytes, invalid UTF-8) is refused with the byte and line where it stops being text.
- Messages quote at most a short excerpt (`excerpt`) of what the sender wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent

from govern.errors import InvalidInput

# The limits (documented in docs/configuration.md, "Limits"). A real organisation file is tens of kilobytes and a few
# thousand values; the telecom example is 17 KB and about 3,000 values (a 600 KB file of 63,000 values parses
# and validates in about 2 s).
MAX_YAML_BYTES = 2_000_000
MAX_DEPTH = 64
MAX_ALIASES = 1_000
MAX_NODES = 100_000
EXCERPT_CHARS = 60
# JSON exports (`govern import`) may be large; their nesting is as bounded as any request body's.
MAX_JSON_DEPTH = 64

# The tags of plain data (what SafeLoader constructs); anything else is refused by name.
PLAIN_TAGS = frozenset({*(tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None),
                        "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of `value` as text, for an error message (never a whole value)."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "…"


class DuplicateKey(ConstructorError):
    """A mapping repeats a key; `line` and `first_line` are 1-based."""

    def __init__(self, key: Any, line: int, first_line: int, mark):
        super().__init__(None, None, f"duplicate key '{excerpt(key)}' (first given on line {first_line})", mark)
        self.key, self.line, self.first_line = key, line, first_line


class LimitExceeded(yaml.YAMLError):
    """The document goes past one of the bounds above; `mark` is where (0-based, as PyYAML's marks)."""

    def __init__(self, problem: str, mark):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class _Bounded(yaml.composer.Composer):
    """The composer (Python, whichever parser feeds it events) with the bounds: a repeated key in any mapping (merge
    keys `<<` excepted), a tag that is not plain data, and a document past the bounds above are refused — checked
    while the document is composed, before a value is built, an alias counted by the size of what it stands for
    (memoised per node, so counting is linear)."""

    def _start_counting(self) -> None:
        self._depth = 0
        self._aliases = 0
        self._nodes = 0  # values in the document with every alias written out
        self._sizes: dict[int, int] = {}  # id(node) → its size written out (only for nodes composed completely)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise LimitExceeded(f"more than {MAX_ALIASES:,} aliases (*name) in one document", event.start_mark)
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise LimitExceeded(f"alias *{excerpt(event.anchor)} refers to a value that contains it",
                                        event.start_mark)
                self._count(size, event.start_mark)
            return super().compose_node(parent, index)  # an undefined alias is PyYAML's own error
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LimitExceeded(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node.tag not in PLAIN_TAGS:
            shown = "!!" + node.tag[len("tag:yaml.org,2002:"):] if node.tag.startswith("tag:yaml.org,2002:") else node.tag
            raise LimitExceeded(f"the tag '{excerpt(shown)}' is not allowed: only plain data (mappings, lists, "
                                f"text, numbers, booleans, null, dates) is read, never objects", node.start_mark)
        self._count(1, node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            size = 1
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(child)] for child in node.value)
        else:
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        self._sizes[id(node)] = size
        return node

    def _count(self, n: int, mark) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise LimitExceeded(f"more than {MAX_NODES:,} values (counting every alias written out)", mark)

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



class PythonLoader(_Bounded, yaml.SafeLoader):
    """Every stage in Python (where libyaml is not installed)."""

    def __init__(self, stream):
        yaml.SafeLoader.__init__(self, stream)
        self._start_counting()

    # The Python scanner looks ahead past every '[' or '{' that may start a key, so nesting is bounded where it is
    # read (a 1,000-deep flow sequence otherwise costs half a second before the composer sees its first level).
    def fetch_flow_collection_start(self, TokenClass):
        if self.flow_level >= MAX_DEPTH:
            raise LimitExceeded(f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column):
        if len(self.indents) >= MAX_DEPTH and self.indent < column:
            raise LimitExceeded(f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        return super().add_indent(column)


if getattr(yaml, "__with_libyaml__", False):
    from yaml.cyaml import CParser

    class UniqueKeyLoader(_Bounded, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml scans and parses (about ten times faster than PyYAML's Python scanner: a 600 KB file in 1 s, not
        9); the composer above builds the nodes from its events, with the bounds."""

        def __init__(self, stream):
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self._start_counting()
else:  # pragma: no cover - libyaml ships in PyYAML's wheels
    UniqueKeyLoader = PythonLoader  # type: ignore[misc]


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_text(data: bytes, source: str, *, max_bytes: int = MAX_YAML_BYTES) -> str:
    """Bytes from a file or a request → text, or InvalidInput: larger than `max_bytes`, a NUL byte (binary, not text)
    or invalid UTF-8, each named with its line."""
    if len(data) > max_bytes:
        raise InvalidInput(f"{source}: the file is larger than {max_bytes:,} bytes",
                           {"(file)": f"larger than {max_bytes:,} bytes"})
    nul = data.find(b"\x00")
    if nul >= 0:
        where = f"line {_line_of(data, nul)}"
        raise InvalidInput(f"{source}: {where}: a NUL byte (at byte {nul}): this is not a text file",
                           {where: f"NUL byte at byte {nul}: not a text file"})
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = f"line {_line_of(data, exc.start)}"
        raise InvalidInput(f"{source}: {where}: not UTF-8 text (at byte {exc.start})",
                           {where: f"not UTF-8 text at byte {exc.start}"}) from None


def read_text_file(path: str | Path, *, max_bytes: int = MAX_YAML_BYTES) -> str:
    """A text file, read only if it is at most `max_bytes` (a larger one is refused without reading it)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", {"file": str(path)}) from None
    return decode_text(data, str(path), max_bytes=max_bytes)


def load_yaml(text: str | bytes, source: str = "YAML", *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse YAML text within the bounds above; InvalidInput naming the line (and column) of a syntax error, a
    repeated key, a refused tag or a bound passed."""
    if isinstance(text, bytes):
        text = decode_text(text, source, max_bytes=max_bytes)
    elif len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise InvalidInput(f"{source}: larger than {max_bytes:,} bytes", {"(file)": f"larger than {max_bytes:,} bytes"})
    elif "\x00" in text:
        where = f"line {text.count(chr(10), 0, text.index(chr(0))) + 1}"
        raise InvalidInput(f"{source}: {where}: a NUL character: this is not a text file",
                           {where: "NUL character: not a text file"})
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except DuplicateKey as exc:
        where = f"line {exc.line}"
        key = excerpt(exc.key)
        raise InvalidInput(f"{source}: {where}: duplicate key '{key}' (first given on line {exc.first_line})",
                           {where: f"duplicate key '{key}' (first given on line {exc.first_line}); a key may "
                                   f"appear once per mapping"}) from None
    except RecursionError:  # not reachable within MAX_DEPTH; kept so that no input is ever a traceback
        raise InvalidInput(f"{source}: nested too deeply", {"(file)": f"nested deeper than {MAX_DEPTH} levels"}) \
            from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in str(problem):  # libyaml's own bound (1,000), past ours
            problem = f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(exc, ConstructorError) and "could not determine a constructor" in str(problem):
            problem = "a tag that is not plain data: only mappings, lists, text, numbers, booleans, null and dates"
        problem = excerpt(problem, 200)
        raise InvalidInput(f"{source}: not valid YAML at {where}: {problem}", {where: problem}) from None


def load_json(text: str | bytes, source: str = "JSON", *, max_bytes: int | None = None,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON from outside (an export file): InvalidInput for text that is not UTF-8, does not parse, or nests
    deeper than `max_depth` — never a RecursionError."""
    if isinstance(text, bytes):
        text = decode_text(text, source, max_bytes=max_bytes if max_bytes is not None else len(text))
    elif max_bytes is not None and len(text) > max_bytes:
        raise InvalidInput(f"{source}: larger than {max_bytes:,} bytes", {"(file)": f"larger than {max_bytes:,} bytes"})
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidInput(f"{source} is not JSON: {exc.msg} at {where}", {where: exc.msg}) from None
    except RecursionError:
        raise InvalidInput(f"{source}: JSON nested deeper than {max_depth} levels",
                           {"(file)": f"nested deeper than {max_depth} levels"}) from None
    check_depth(value, max_depth, source)
    return value


def check_depth(value: Any, max_depth: int, source: str = "JSON") -> None:
    """InvalidInput if lists and mappings in `value` nest deeper than `max_depth` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                raise InvalidInput(f"{source}: nested deeper than {max_depth} levels",
                                   {"(file)": f"nested deeper than {max_depth} levels"})
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
