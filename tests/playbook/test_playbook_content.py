"""The playbook prints every role, person, journey, state, transition, ritual and glossary term of the configuration,
and says what matters to a newcomer (scenario 2)."""

from __future__ import annotations

import html
import re

from govern.policy import ROLES
from govern.workflows.definition import load_definition

from .conftest import AS_OF, make_playbook


def _text(html_bytes: bytes) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", html_bytes.decode("utf-8")))


def test_every_configured_thing_appears_in_both_formats(markdown_files, html_files, example_config):
    definition = load_definition(example_config["lifecycle"])
    expected = {
        "roles": set(ROLES) | {seat["role"] for seat in example_config["council"]},
        "people": {p["name"] for p in example_config["people"]},
        "journeys": {j["name"] for j in example_config["journeys"]},
        "states": set(definition.states),
        "transitions": {t.display_title for t in definition.transitions},  # by title, as people read them
        "rituals": {r["name"] for r in example_config["rituals"]},
        "terms": {t["term"] for t in example_config["terminology"]},
        "definitions": {t["definition"] for t in example_config["terminology"]},
        "personas": {p["name"] for p in example_config["personas"]},
        "kpis": {k["name"] for k in example_config["kpis"]},
        "levels": set(example_config["organisation"]["levels"]),
    }
    unescape = re.compile(r"\\(.)")
    md_text = unescape.sub(r"\1", "\n".join(markdown_files.values()))
    html_text = "\n".join(_text(b) for path, b in html_files.items() if path.endswith(".html"))
    for kind, names in expected.items():
        for name in names:
            assert name in md_text, f"{kind}: {name!r} missing from the Markdown playbook"
            assert name in html_text, f"{kind}: {name!r} missing from the HTML playbook"


def test_every_person_and_role_has_an_onboarding_page(markdown_files, example_config):
    for person in example_config["people"]:
        assert f"people/{person['handle']}.md" in markdown_files
    for role in ("lead", "manager", "coordinator", "supporter", "owner"):
        assert f"roles/{role}.md" in markdown_files
    assert markdown_files["people/lotte.md"].startswith(
        "# Your first week as coordinator of Switching providers\n")


def test_coordinator_page_lists_journeys_kpis_opportunities_rituals_and_calendar(markdown_files):
    page = markdown_files["people/lotte.md"]
    assert "### <a id=\"journey-switching-providers\"></a>Switching providers" in page
    assert "Porting CSAT: target 4 or more, latest 3.2" in page
    assert "`OPP-1` How might we keep switchers informed while their number ports?" in page
    assert "[Weekly council review](../rituals.md#ritual-weekly-council-review): next Wednesday 25 November 2026, 10:00" \
        in page
    assert "piggy-back on your Mobile squad sprint review" in page
    assert "/playbook/calendar" in page
    assert "| `transition.request` |" in page and "✓ for [Activating my SIM]" in page


def test_rituals_page_says_cadence_in_words_agenda_and_piggyback(markdown_files):
    page = markdown_files["rituals.md"]
    assert "every Wednesday at 10:00 (Europe/Amsterdam time), 60 minutes" in page
    assert "every month on the first Tuesday at 14:00 (Europe/Amsterdam time)" in page
    assert "every 2 weeks on Thursday at 09:30" in page
    assert "> Piggy-back on your Mobile squad sprint review" in page
    assert "1. Requests awaiting a decision (`approvals`)" in page
    assert "[Priya Shah](people/priya.md)" in page


def test_lifecycle_page_has_diagram_guards_in_words_and_approvers(markdown_files, html_files):
    page = markdown_files["lifecycle.md"]
    assert "```mermaid\nstateDiagram-v2" in page
    assert "<svg" in html_files["lifecycle.html"].decode()
    assert "- Only when: the opportunity is backed by at least 2 pieces of evidence; the evidence is linked to steps of " \
           "at least 2 journeys" in page
    assert "- Approved by: the lead (now: [Ana Silva](people/ana.md))" in page
    assert "- Approved by: the owner of every journey it touches" in page


def test_prioritisation_works_an_example_from_real_data(markdown_files):
    page = markdown_files["prioritisation.md"]
    assert "## <a id=\"worked-example\"></a>A worked example from our data" in page
    assert re.search(r"`OPP-\d+` \*\*How might we", page)
    assert "reach 60000 × impact 2 × confidence 100% ÷ effort 3 = 40000" in page
    assert "Evidence strength = volume" in page


def test_introduction_gives_the_maturity_reading_and_what_holds_it_back(markdown_files):
    page = markdown_files["index.md"]
    assert re.search(r"is at \*\*stage \d of 5, [a-z-]+\*\*", page)
    assert "What holds us back" in page
    assert "solutions linked to the backlog" in page


def test_tools_page_has_slack_cheat_sheet_jira_and_api(markdown_files, html_files):
    page = markdown_files["tools.md"]
    assert "| `/journey approve OPP` |" in page
    assert r"| `/journey list [mine\|all\|awaiting\|JOURNEY]` |" in page  # a pipe in a table cell, as GitHub wants it
    assert b"<td><code>/journey list [mine|all|awaiting|JOURNEY]</code></td>" in html_files["tools.html"]
    assert "one Epic in the `OPS` Jira project" in page
    assert "`/api/docs`" in page


def test_data_is_escaped_for_markdown_and_html(example_db, operator):
    from govern.services.journeys import create_journey
    from govern.playbook import build

    tricky = "Paying *twice* | <b>not bold</b> [x](y) _under_ & `tick`"
    with example_db.session_scope() as session:
        create_journey(session, operator, key="tricky", name=tricky, level="micro", parent="paying-my-bill",
                       owner="femke")
    pb = make_playbook(example_db)
    framework = build.build(pb, "html")["framework.html"].decode()
    assert f'<h3 id="journey-tricky">{html.escape(tricky, quote=False)}</h3>' in framework
    markdown = build.build(pb, "md")["framework.md"].decode()
    assert r"Paying \*twice\* \| \<b\>not bold\</b\> \[x\](y) \_under\_ \& \`tick\`" in markdown


def test_as_of_moves_the_next_rituals(example_db):
    from govern.playbook import build

    later = make_playbook(example_db, as_of=AS_OF.replace(month=12, day=10))
    page = build.build(later, "md")["people/lotte.md"].decode()
    assert "next Wednesday 16 December 2026, 10:00" in page
