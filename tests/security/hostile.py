"""Hostile and mistaken govern.yaml files (issue 30): what tests/security/test_hostile_files.py sends through every
entry point and bench/hostile_files.py times. Each is a valid organisation file (the example) plus one poison."""

from __future__ import annotations

from govern.orgfile.load import examples_dir

EXAMPLE = (examples_dir() / "telecom" / "govern.yaml").read_text(encoding="utf-8")


def _without_section(text: str, section: str) -> str:
    """The example without its top-level `section:` (so that the poisoned one is the only one)."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(f"{section}:"):
            skipping = True
            continue
        if skipping and line[:1] not in (" ", "\n", "#", ""):
            skipping = False
        if not skipping:
            out.append(line)
    return "".join(out)


def laughs(levels: int = 9, width: int = 9, indent: str = "    ", item: bool = False) -> str:
    """The billion laughs as YAML entries (mapping entries `a: …`, or list items with `item`): `a` is `width`
    strings, every next anchor `width` aliases of the one before, so the last stands for width**levels strings (9**9:
    387 million) in under 1 KB of text."""
    lead = (lambda name: f"{indent}- ") if item else (lambda name: f"{indent}{name}: ")
    lines = [lead("a") + "&a [" + ", ".join(['"lol"'] * width) + "]"]
    previous = "a"
    for name in "bcdefghijklmnopqrstuvwxyz"[: levels - 1]:
        lines.append(lead(name) + f"&{name} [" + ", ".join([f"*{previous}"] * width) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def bomb_in_jira_extra_fields() -> str:
    return _without_section(EXAMPLE, "jira") + "jira:\n  project: CX\n  extra_fields:\n" + laughs()


def bomb_in_evidence_kinds() -> str:
    return _without_section(EXAMPLE, "evidence") + "evidence:\n  kinds:\n    - other\n" + laughs(item=True)


def deep_flow_sequence(depth: int = 1000) -> str:
    return EXAMPLE + "\nwords: {x: " + "[" * depth + "]" * depth + "}\n"


def python_tag() -> str:
    return EXAMPLE + "\nwords: !!python/object/apply:os.system ['echo owned > /tmp/owned']\n"


def binary_junk(size: int = 64 * 1024) -> bytes:
    """Bytes that are not text: a fixed pseudo-random sequence (with NULs and invalid UTF-8)."""
    state, out = 12345, bytearray()
    while len(out) < size:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(state >> 16 & 0xFF)
    return bytes(out)


def huge_file(size: int = 50 * 1024 * 1024) -> str:
    """A 50 MB file: the example, then one long comment (legal YAML, if anyone read it)."""
    return EXAMPLE + "# " + "x" * (size - len(EXAMPLE) - 3) + "\n"


# name → (content, a phrase the refusal must contain, the line it must name or None)
def cases() -> dict[str, tuple[str | bytes, str, str | None]]:
    return {
        "alias bomb in jira.extra_fields": (bomb_in_jira_extra_fields(), "counting every alias", "line "),
        "alias bomb in evidence.kinds": (bomb_in_evidence_kinds(), "counting every alias", "line "),
        "1,000-deep flow sequence": (deep_flow_sequence(), "nested deeper than 64 levels", "line "),
        "50 MB file": (huge_file(), "larger than 2,000,000 bytes", None),
        "binary junk": (binary_junk(), "not a text file", "line "),
        "python tag": (python_tag(), "tag '!!python/object/apply:os.system' is not allowed", "line "),
    }
