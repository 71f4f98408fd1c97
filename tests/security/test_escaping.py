"""Finding 1: stored XSS and mention injection through titles. Escaping by context: SVG attributes (quotes), HTML,
agenda Markdown, Slack mrkdwn and its text fallbacks, Jira wiki markup."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import markdown

from govern.escaping import jira_wiki, markdown_inline, slack_text
from govern.services.common import put_setting
from govern.workflows.definition import definition_from_section, resolve_lifecycle
from govern.workflows.diagrams import to_svg

from .conftest import OWNERS_ALL, new_opportunity

SVG_BREAKOUT = 'Owners" onload="alert(document.cookie)'
HOSTILE_TITLE = "<img src=x onerror=alert(1)> [win](javascript:alert(1)) <!channel> & {html}<b>x</b>{html}"


class _Elements(HTMLParser):
    """Every start tag with its attributes, as a browser's parser would see them."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def dangerous(self) -> list[str]:
        found = []
        for tag, attrs in self.tags:
            if tag in ("script", "img", "iframe", "object"):
                found.append(tag)
            found += [f"{tag}[{name}]" for name in attrs if name.startswith("on")]
            found += [f"{tag}[{name}={value}]" for name, value in attrs.items()
                      if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:")]
        return found


def _hostile_lifecycle(db):
    with db.session_scope() as s:
        put_setting(s, "lifecycle.current", resolve_lifecycle({**OWNERS_ALL, "title": SVG_BREAKOUT}))
        s.commit()


def test_a_lifecycle_title_cannot_break_out_of_an_svg_attribute():
    svg = to_svg(definition_from_section({**OWNERS_ALL, "title": SVG_BREAKOUT}))
    root = ET.fromstring(svg)
    assert "onload" not in root.attrib
    assert root.attrib["aria-label"].startswith(SVG_BREAKOUT)


def test_the_live_playbook_shows_a_hostile_lifecycle_title_as_text(api):
    _hostile_lifecycle(api.db)
    page = api.client.get("/playbook/lifecycle.html", headers={"Authorization": f"Bearer {api.token('ana')}"})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "onload" in body  # the title is shown …
    assert _Elements(body).dangerous() == []  # … but only as text: its quote cannot end an attribute


def test_agenda_markdown_and_slack_keep_hostile_titles_as_text(api, owners_all):
    key = new_opportunity(api.db, ["switching-providers", "paying-my-bill"], title=HOSTILE_TITLE)
    assert api.post(f"/opportunities/{key}/transitions", as_="lotte", json={"trigger": "prioritise"}
                    ).status_code == 202
    md = api.get("/rituals/weekly-council-review/agenda?format=md&fresh=true", as_="ana")
    assert md.status_code == 200, md.get_data(as_text=True)
    text = md.get_data(as_text=True)
    assert key in text
    assert _Elements(markdown.markdown(text)).dangerous() == []  # rendered, it is text: no image, no script link
    agenda = api.get("/rituals/weekly-council-review/agenda?fresh=true", as_="ana").get_json()
    from govern.integrations.slack import blocks

    dumped = str(blocks.agenda_blocks(agenda))  # what the Slack adapter posts for this agenda
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped


def test_escapers_for_each_context():
    assert markdown_inline("[a](javascript:x) <b>") == "\\[a\\](javascript:x) \\<b\\>"
    assert slack_text("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert jira_wiki("{html}<script>{html} [x|javascript:y]") == "\\{html\\}<script>\\{html\\} \\[x\\|javascript:y\\]"
