"""The wording sweep's crawler: every page a person can reach from the home page and the playbook, signed in, read as
the words a reader sees (tags, attributes, scripts and code spans removed)."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

_HREF = re.compile(r'href="([^"#]+)')
SKIP = ("/logout", "/static/", "/api/", "/metrics", "/healthz", "/readyz", "/calendars/", "/slack/", "/jira/")


def visible_words(page: str) -> str:
    """What a reader sees of an HTML page: no scripts, styles, code, attributes or tags (diagram text kept)."""
    text = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", page, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text))


def crawl(client, start=("/", "/playbook/index.html"), limit: int = 400) -> dict[str, str]:
    """{path: visible words} of every page reached by following links from `start` (GET only)."""
    seen: dict[str, str] = {}
    todo = list(start)
    while todo and len(seen) < limit:
        path = todo.pop(0)
        if path in seen or any(path.startswith(s) for s in SKIP):
            continue
        answer = client.get(path)
        if answer.status_code in (301, 302, 303):
            todo.append(urlsplit(answer.headers["Location"]).path)
            seen[path] = ""
            continue
        if answer.status_code != 200 or "html" not in (answer.mimetype or ""):
            seen[path] = ""
            continue
        body = answer.get_data(as_text=True)
        seen[path] = visible_words(body)
        for href in _HREF.findall(body):
            href = html.unescape(href)
            target = urlsplit(urljoin(path, href))
            if target.netloc and target.netloc != "localhost":
                continue
            if target.path.endswith((".md", ".css", ".svg", ".ics", ".json", ".csv", ".pdf")):
                continue
            todo.append(target.path + (f"?{target.query}" if target.query and "page=" not in target.query
                                       and "sort=" not in target.query else ""))
    return seen
