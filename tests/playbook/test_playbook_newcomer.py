"""Scenario 2: Ruben joins as supporter for "Paying my bill"; the manager applies govern.yaml; Ruben's page tells him
what he needs, and the product refuses his approval politely, naming who can."""

from __future__ import annotations

import pytest

from govern.orgfile.load import apply_text
from govern.errors import PermissionDenied
from govern.services.common import load_actor
from govern.playbook import build

from .conftest import EXAMPLE_YAML, make_playbook


def test_a_newcomer_seated_in_govern_yaml_gets_his_page(example_db, operator):
    from govern.workflows.services import approve_request, request_transition

    text = EXAMPLE_YAML.read_text(encoding="utf-8")
    text = text.replace("\ncouncil:\n", "\n  - {handle: ruben, name: Ruben Mertens, email: ruben.mertens@telconova.example, "
                        "title: Billing Analyst, department: Billing}\n\ncouncil:\n", 1)
    text = text.replace("  - {person: tom, role: supporter, journey: paying-my-bill}\n",
                        "  - {person: tom, role: supporter, journey: paying-my-bill}\n"
                        "  - {person: ruben, role: supporter, journey: paying-my-bill}\n", 1)
    with example_db.session_scope() as session:
        apply_text(session, operator, text)
    page = build.build(make_playbook(example_db), "md")["people/ruben.md"].decode()
    assert page.startswith("# Your first week as supporter of Paying my bill\n")
    assert "- Owner: [Femke Jansen](femke.md); level macro" in page
    assert "Bill CSAT: target 4.2 or more, latest 3.8" in page
    assert "`OPP-2` How might we make roaming costs easy to find on the bill?" in page
    assert "[Paying my bill coordinator check-in](../rituals.md#ritual-billing-checkin): next Tuesday" in page
    assert "Put them in your calendar:" in page
    assert "| `evidence.record` | record evidence (insights) | ✓ everywhere |" in page
    assert "| `transition.request` | move an opportunity or request a transition | ✗" in page
    assert "**You cannot approve transition requests**" in page
    assert "`/journey evidence OPP \"text\" [source]`" in page

    with example_db.session_scope() as session:
        result = request_transition(session, load_actor(session, "femke"), "OPP-2", "implement")
        assert result.request is not None
        with pytest.raises(PermissionDenied) as refused:
            approve_request(session, load_actor(session, "ruben"), result.request.id)
    assert "ruben (supporter) may not approve or reject transition requests" in refused.value.message
