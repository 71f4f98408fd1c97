"""Markdown in and out: escaping data for Markdown, and turning the playbook's Markdown into HTML.

The playbook is written once, as Markdown (a wiki takes it as it is); the HTML site is that Markdown converted. The
converter understands the subset the templates write — ATX headings (an inline `<a id="…"></a>` becomes the heading's
id), paragraphs, `-` and `1.` lists (two levels), `>` notes, GitHub tables, fenced code, raw HTML blocks, and inline
links, `**strong**`, `*emphasis*`, `` `code` `` and backslash escapes. A general Markdown library would do, but takes
seconds on a playbook for hundreds of journeys; this one is linear and deterministic. Relative links to `.md` pages
become links to `.html` pages.
"""

from __future__ import annotations

import functools
import html
import re

from govern.escaping import markdown_inline


class Raw(str):
    """Markdown that the templates must not escape (links, code spans built by the playbook itself)."""

    __slots__ = ()


def md_escape(value: object) -> str:
    """Data as Markdown inline text: every character Markdown would read as markup is backslash-escaped."""
    if isinstance(value, Raw):
        return value
    return markdown_inline(value)


def md_code(value: object, *, in_table: bool = False) -> Raw:
    """An inline code span that survives backticks in the value (and, in a table cell, pipes: GitHub's tables read
    `\\|` inside a code span as a pipe)."""
    text = " ".join(str(value).split())
    if in_table:
        text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Raw(f"{fence}{pad}{text}{pad}{fence}")


# --- Markdown → HTML ----------------------------------------------------------------------------------------------------

_INLINE = re.compile(
    r"(?P<escape>\\[!-/:-@\[-`{-~])"
    r"|(?P<code>(?P<ticks>`+) ?(?P<codetext>.+?) ?(?P=ticks))"
    r"|(?P<anchor><a id=\"(?P<anchorid>[A-Za-z0-9_.:-]+)\"></a>)"
    r"|(?P<br><br>)"
    r"|(?P<link>\[(?P<linktext>(?:\\.|[^\]\\])*)\]\((?P<url>[^)\s]+)\))"
    r"|(?P<strong>\*\*(?P<strongtext>(?:\\.|[^*\\])+?)\*\*)"
    r"|(?P<em>\*(?P<emtext>(?:\\.|[^*\\])+?)\*)"
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_HEADING_ID = re.compile(r"^<a id=\"([A-Za-z0-9_.:-]+)\"></a>\s*")
_BULLET = re.compile(r"^(\s*)[-*]\s+(.*)$")
_ORDERED = re.compile(r"^(\s*)\d+[.)]\s+(.*)$")
_TABLE_SEP = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def html_href(url: str) -> str:
    """A relative `.md` link becomes the `.html` page; anything else is kept."""
    if "://" in url or url.startswith(("mailto:", "/", "#")):
        return url
    path, hash_, anchor = url.partition("#")
    if path.endswith(".md"):
        path = path[:-3] + ".html"
    return path + hash_ + anchor


_SPECIAL = re.compile(r"[\\`*\[<]")


@functools.lru_cache(maxsize=1 << 16)
def inline(text: str) -> str:
    """Inline Markdown to HTML; everything not understood is escaped text. (Cached: the same cells and list items,
    such as links to people and journeys, recur on hundreds of pages.)"""
    if not _SPECIAL.search(text):
        return html.escape(text, quote=False)
    out: list[str] = []
    pos = 0
    escape = html.escape
    for match in _INLINE.finditer(text):
        out.append(escape(text[pos:match.start()], quote=False))
        pos = match.end()
        kind = match.lastgroup
        if kind == "escape":
            out.append(escape(match.group("escape")[1], quote=False))
        elif kind == "code":
            out.append("<code>" + escape(match.group("codetext"), quote=False) + "</code>")
        elif kind == "anchor":
            out.append(f'<a id="{match.group("anchorid")}"></a>')
        elif kind == "br":
            out.append("<br>")
        elif kind == "link":
            href = escape(html_href(match.group("url")))
            out.append(f'<a href="{href}">{inline(match.group("linktext"))}</a>')
        elif kind == "strong":
            out.append("<strong>" + inline(match.group("strongtext")) + "</strong>")
        elif kind == "em":
            out.append("<em>" + inline(match.group("emtext")) + "</em>")
        else:  # pragma: no cover - every alternative is handled above
            raise AssertionError(kind)
    out.append(escape(text[pos:], quote=False))
    return "".join(out)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    # As in GitHub's tables, an escaped pipe is a pipe once the row is split (also inside code spans).
    return [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(line)]


def _list_html(items: list[tuple[int, bool, str]]) -> str:
    """items: (depth, ordered, text) → nested lists."""
    out: list[str] = []
    stack: list[str] = []
    for depth, ordered, text in items:
        tag = "ol" if ordered else "ul"
        while len(stack) > depth + 1:
            out.append(f"</li></{stack.pop()}>")
        if len(stack) == depth + 1:
            out.append("</li>")
        while len(stack) < depth + 1:
            stack.append(tag)
            out.append(f"<{tag}>")
        out.append("<li>" + inline(text))
    while stack:
        out.append(f"</li></{stack.pop()}>")
    return "".join(out)


def to_html(markdown: str) -> str:
    """Convert the playbook's Markdown to HTML (see the module docstring for what is understood)."""
    lines = markdown.split("\n")
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        if stripped.startswith("```"):
            lang = stripped[3:].strip()
            body = []
            i += 1
            while i < n and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1
            cls = f' class="language-{html.escape(lang)}"' if lang else ""
            out.append(f"<pre><code{cls}>" + html.escape("\n".join(body), quote=False) + "\n</code></pre>")
            continue
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            text = heading.group(2)
            ident = _HEADING_ID.match(text)
            attr = ""
            if ident:
                attr = f' id="{ident.group(1)}"'
                text = text[ident.end():]
            out.append(f"<h{level}{attr}>{inline(text)}</h{level}>")
            i += 1
            continue
        if stripped.startswith("<") and not stripped.startswith(("<a ", "<br>")):
            block = []
            while i < n and lines[i].strip():
                block.append(lines[i])
                i += 1
            out.append("\n".join(block))
            continue
        if stripped.startswith("|") and i + 1 < n and _TABLE_SEP.match(lines[i + 1].strip()):
            head = _cells(line)
            i += 2
            rows = []
            while i < n and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            parts = ["<table><thead><tr>", *(f"<th>{inline(c)}</th>" for c in head), "</tr></thead><tbody>"]
            for row in rows:
                parts.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>")
            parts.append("</tbody></table>")
            out.append("".join(parts))
            continue
        if _BULLET.match(line) or _ORDERED.match(line):
            items: list[tuple[int, bool, str]] = []
            while i < n and lines[i].strip():
                m = _BULLET.match(lines[i])
                ordered = False
                if not m:
                    m = _ORDERED.match(lines[i])
                    ordered = True
                if not m:  # a continuation line of the previous item
                    depth, was_ordered, text = items[-1]
                    items[-1] = (depth, was_ordered, text + " " + lines[i].strip())
                else:
                    items.append((min(len(m.group(1)) // 2, 3), ordered, m.group(2)))
                i += 1
            out.append(_list_html(items))
            continue
        if stripped.startswith(">"):
            quote = []
            while i < n and lines[i].strip().startswith(">"):
                quote.append(lines[i].strip()[1:].strip())
                i += 1
            out.append('<blockquote class="note"><p>' + inline(" ".join(quote)) + "</p></blockquote>")
            continue
        para = []
        while i < n and lines[i].strip() and not _HEADING.match(lines[i]) \
                and not lines[i].strip().startswith(("|", "```", ">")) \
                and not _BULLET.match(lines[i]) and not _ORDERED.match(lines[i]):
            para.append(lines[i].strip())
            i += 1
        out.append("<p>" + inline(" ".join(para)) + "</p>")
    return "\n".join(out) + "\n"
