"""Reading the text of a slash command: words, quoted phrases (straight or the curly quotes Slack clients type),
the `--public` flag, and the usage line of every subcommand."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

# Slack clients turn "…" into curly quotes; shlex only knows straight ones.
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})

PUBLIC_FLAG = "--public"

# subcommand -> (usage after the command name, what it does); `{opportunity}` is the organisation's word for it
# (govern.vocabulary), filled in where the text is shown
USAGES: dict[str, tuple[str, str]] = {
    "help": ("help", "this list of commands"),
    "status": ("status OPP", "where {a_opportunity} stands: state, owner, evidence, score, pending approvals"),
    "list": ("list [mine|all|awaiting|JOURNEY]",
             "open {opportunities}: with no argument yours (every open one when Slack cannot tell who you are); "
             "`all` every open one, `awaiting` those awaiting your approval, or those of one journey"),
    "evidence": ('evidence OPP "text" [source]', "record {a_insight} and link it to the {opportunity}"),
    "move": ("move OPP STATE [reason]", "move {a_opportunity} (or ask for approval when the lifecycle needs it)"),
    "approve": ("approve OPP", "approve the pending request on {a_opportunity}"),
    "reject": ("reject OPP reason", "reject the pending request on {a_opportunity}, with a reason"),
    "agenda": ("agenda [RITUAL]", "the agenda of the next occurrence of a ritual"),
    "owner": ("owner JOURNEY", "who owns a journey"),
}

ALIASES = {"show": "status", "ls": "list", "own": "owner", "owners": "owner", "?": "help"}


class Malformed(Exception):
    """The text does not fit the subcommand's usage; `problem` says what is wrong in plain words."""

    def __init__(self, subcommand: str, problem: str):
        super().__init__(problem)
        self.subcommand = subcommand
        self.problem = problem


@dataclass(frozen=True)
class Parsed:
    subcommand: str | None  # None: unknown word (or empty text → "help")
    args: tuple[str, ...]
    public: bool
    word: str = ""  # what the user typed as the subcommand
    rest: str = ""  # the text after the subcommand, quotes kept (straightened), without --public


def tokenize(text: str) -> list[str]:
    """Split like a shell: words, and phrases in straight or curly quotes. Raises ValueError on an open quote."""
    return shlex.split((text or "").translate(_QUOTES), posix=True)


def parse(text: str) -> Parsed:
    """The subcommand and its arguments. An unclosed quote is a Malformed of that subcommand."""
    raw = (text or "").strip()
    first = raw.split(None, 1)[0].lower() if raw else "help"
    name = ALIASES.get(first, first)
    try:
        words = tokenize(raw)
    except ValueError:
        raise Malformed(name if name in USAGES else "help", "a quote is not closed") from None
    public = PUBLIC_FLAG in words
    words = [w for w in words if w != PUBLIC_FLAG]
    if not words:
        return Parsed("help", (), public, "help")
    word = words[0].lower()
    name = ALIASES.get(word, word)
    straight = raw.translate(_QUOTES)
    rest = straight.split(None, 1)[1] if len(straight.split(None, 1)) > 1 else ""
    rest = " ".join(part for part in rest.split(" ") if part != PUBLIC_FLAG).strip()
    return Parsed(name if name in USAGES else None, tuple(words[1:]), public, words[0], rest)


_QUOTED = re.compile(r'^(?P<before>.*?)\s*"(?P<quoted>[^"]*)"\s*(?P<after>.*)$', re.DOTALL)


def split_on_quote(rest: str) -> tuple[str, str, str] | None:
    """(words before, the first double-quoted phrase, what follows) or None when nothing is quoted."""
    match = _QUOTED.match(rest)
    if match is None:
        return None
    return match["before"].strip(), match["quoted"], match["after"].strip()
