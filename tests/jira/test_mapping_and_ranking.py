"""The `jira` mapping (govern.yaml) and backlog ranking, including projects that do not allow ranking."""

from __future__ import annotations

import pytest

from govern.errors import InvalidInput
from govern.integrations.jira.mapping import JiraMapping, validate_mapping
from govern.integrations.jira.push import rank_backlog
from tests.standins.jira import JiraStandIn

from .conftest import add_opportunity, server_only, solutions


def test_priority_follows_our_rank_in_bands():
    mapping = JiraMapping.from_setting({"priority_by_rank": [{"up_to": 2, "priority": "Highest"},
                                                             {"up_to": 5, "priority": "High"}, {"priority": "Low"}]})
    assert [mapping.priority_for(r) for r in (1, 2, 3, 5, 6, None)] == [
        "Highest", "Highest", "High", "High", "Low", "Low"]


def test_status_comes_back_by_category_or_by_a_named_status():
    mapping = JiraMapping.from_setting({"status_map": {"In Review": "done"}})
    assert mapping.state_for({"name": "Doing", "statusCategory": {"key": "indeterminate"}}) == "in_progress"
    assert mapping.state_for({"name": "In Review", "statusCategory": {"key": "indeterminate"}}) == "done"
    assert mapping.state_for({"name": "Closed", "statusCategory": {"key": "done"}}) == "done"


def test_the_example_organisations_section_is_accepted():
    mapping = JiraMapping.from_setting({"enabled": True, "project": "OPS", "solution_issue_type": "Epic"})
    assert mapping.project == "OPS" and mapping.solution_issue_type == "Epic"


def test_mistakes_in_the_section_name_their_place():
    problems = validate_mapping({"project": "", "labels": ["has space"], "status_map": {"done": "finished"},
                                 "timezone": "Mars/Olympus", "colour": "red"})
    assert set(problems) == {"jira.project", "jira.labels[0]", "jira.status_map.done", "jira.timezone", "jira.colour"}
    with pytest.raises(InvalidInput):
        JiraMapping.from_setting({"status_map": {"done": "finished"}})


def test_jql_dates_are_written_in_the_integration_users_time_zone():
    import datetime as dt

    mapping = JiraMapping.from_setting({"timezone": "Europe/Amsterdam"})
    assert mapping.jql_time(dt.datetime(2026, 7, 1, 10, 30, 59)) == "2026/07/01 12:30"


@server_only
def test_ranking_orders_the_backlog_by_our_portfolio_rank(db, standin, adapter, jira_worker):
    first, _ = add_opportunity(db, 2)
    second, _ = add_opportunity(db, 2)
    jira_worker.drain()
    mapping = JiraMapping.from_setting({"project": "OPS"})
    with db.session_scope() as session:
        said = rank_backlog(adapter, session, mapping, ranks={second: 1, first: 2})
    assert said == "ranked 4 backlog items in our order"
    by_rank = [i.key for i in sorted(standin.issues.values(), key=lambda i: i.rank)]
    keys = {s.id: s.external_key for s in solutions(db)}
    ids = sorted(keys)
    assert by_rank == [keys[ids[2]], keys[ids[3]], keys[ids[0]], keys[ids[1]]]
    with db.session_scope() as session:
        assert rank_backlog(adapter, session, mapping, ranks={second: 1, first: 2}) == "backlog already in our order"


def test_a_project_without_ranking_keeps_our_order_in_the_priority_field_only(db):
    from govern.integrations.jira.adapter import JiraAdapter
    from govern.integrations.jira.push import JiraDeliverer
    from govern.integrations.worker import OutboxWorker

    from .conftest import set_mapping

    plain = JiraStandIn("Server", ranking=False)  # no Jira Software: no agile API, no Rank field
    plain.serve()
    try:
        set_mapping(db)
        first, _ = add_opportunity(db, 1)
        second, _ = add_opportunity(db, 1)
        adapter = JiraAdapter(plain.base_url, plain.user, plain.token)
        OutboxWorker(db, [JiraDeliverer(db, adapter)]).drain()
        with db.session_scope() as session:
            said = rank_backlog(adapter, session, JiraMapping.from_setting({"project": "OPS"}),
                                ranks={second: 1, first: 2})
        assert said.startswith("ranking unavailable in project OPS") and "priority field only" in said
        assert len(plain.issues) == 2
    finally:
        plain.stop()
