"""Permissions read in the organisation's words: `words: {permissions: {action: title}}`, with the permission table's
plain words by default, in refusals and in the playbook."""

from __future__ import annotations

import pytest

from govern.errors import PermissionDenied
from govern.policy import ACTIONS
from govern.services.common import load_actor, put_setting
from govern.services.opportunities import create_opportunity
from govern.vocabulary import DEFAULT, forget, validate_words, vocabulary_from


def test_a_permission_reads_by_its_declared_title_or_its_plain_words():
    words = vocabulary_from({"opportunity": "improvement idea",
                             "permissions": {"opportunity.create": "propose {opportunities}"}})
    assert words.action("opportunity.create", ACTIONS["opportunity.create"][0]) == "propose improvement ideas"
    assert words.action("token.manage_own", ACTIONS["token.manage_own"][0]) == "create and revoke their own API tokens"
    assert DEFAULT.action("opportunity.create", ACTIONS["opportunity.create"][0]) == "create opportunities"


def test_a_bad_permission_title_is_named_by_its_place():
    assert validate_words({"permissions": {"opportunity.create": "propose ideas"}}, actions=ACTIONS) == {}
    assert validate_words({"permissions": {"opportunity.make": "x", "evidence.record": ""}}, actions=ACTIONS) == {
        "words.permissions.opportunity.make": "unknown permission 'opportunity.make' (see the permission table in "
                                              "the playbook)",
        "words.permissions.evidence.record": "must be text of 1 to 200 characters"}
    assert validate_words({"permissions": ["opportunity.create"]})["words.permissions"].startswith("must be a mapping")


def test_a_refusal_names_the_permission_in_the_organisations_words(example_db):
    with example_db.session_scope() as s:
        put_setting(s, "words", {"permissions": {"opportunity.create": "put forward a new idea"}})
        s.commit()
        forget(s)
        with pytest.raises(PermissionDenied) as refused:
            create_opportunity(s, load_actor(s, "priya"), title="How might we ask first?", journeys=["moving-house"])
    assert "may not put forward a new idea" in refused.value.message
