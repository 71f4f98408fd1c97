"""The stand-in Jira answers the real `jira` client with Atlassian's shapes and status codes, in both deployments."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json

import jira as jira_lib
import pytest
import requests

from tests.standins.jira import JiraStandIn, adf_from_text


def _description(fake, text):
    return adf_from_text(text) if fake.deployment == "Cloud" else text


def _fields(fake, summary, label, issuetype="Task", **extra):
    return {"project": {"key": "OPS"}, "issuetype": {"name": issuetype}, "summary": summary, "labels": [label],
            "description": _description(fake, f"{summary} described"), **extra}


def test_client_reads_deployment_type_from_server_info(standin):
    client = standin.client()
    assert client.deploymentType == standin.deployment
    assert client._is_cloud == (standin.deployment == "Cloud")
    assert standin.calls["GET serverInfo"] == 1


def test_wrong_credentials_are_refused_with_401():
    fake = JiraStandIn("Server")
    fake.serve()
    try:
        with pytest.raises(jira_lib.JIRAError) as info:
            jira_lib.JIRA(fake.base_url, basic_auth=("govern-bot", "wrong"), max_retries=0)
        assert info.value.status_code == 401
    finally:
        fake.stop()


def test_create_issue_and_read_it_back(standin):
    client = standin.client()
    issue = client.create_issue(fields=_fields(standin, "Status SMS during porting", "govern-sol-1",
                                               issuetype="Epic", priority={"name": "High"},
                                               components=[{"name": "Mobile"}], duedate="2026-12-01"))
    assert issue.key == "OPS-1"
    assert issue.fields.status.name == "To Do"
    assert issue.fields.status.statusCategory.key == "new"
    assert issue.fields.labels == ["govern-sol-1"]
    assert issue.fields.priority.name == "High"
    assert issue.fields.components[0].name == "Mobile"
    assert issue.fields.duedate == "2026-12-01"
    raw_description = issue.raw["fields"]["description"]
    if standin.deployment == "Cloud":
        assert raw_description["type"] == "doc"  # v3 speaks Atlassian Document Format
    else:
        assert raw_description == "Status SMS during porting described"


def test_cloud_v3_refuses_a_plain_string_description():
    fake = JiraStandIn("Cloud")
    fake.serve()
    try:
        client = fake.client()
        with pytest.raises(jira_lib.JIRAError) as info:
            client.create_issue(fields={"project": {"key": "OPS"}, "issuetype": {"name": "Task"},
                                        "summary": "x", "description": "plain"})
        assert info.value.status_code == 400
        assert "Atlassian Document" in info.value.text
    finally:
        fake.stop()


def test_missing_fields_are_a_400_naming_each_field(standin):
    client = standin.client()
    with pytest.raises(jira_lib.JIRAError) as info:
        client.create_issue(fields={"project": {"key": "NOPE"}, "issuetype": {"id": "10002"}, "summary": ""})
    assert info.value.status_code == 400
    body = info.value.response.json()
    assert body["errors"]["project"] == "valid project is required"
    assert body["errors"]["summary"] == "You must specify a summary of the issue."


def test_bulk_create_answers_issues_and_errors_in_order(standin):
    client = standin.client()
    good = [_fields(standin, f"Item {n}", f"govern-sol-{n}") for n in range(3)]
    bad = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": ""}
    results = client.create_issues(good[:1] + [bad] + good[1:], prefetch=False)
    assert [r["status"] for r in results] == ["Success", "Error", "Success", "Success"]
    assert results[1]["error"] == {"summary": "You must specify a summary of the issue."}
    assert [r["issue"].key for r in results if r["issue"]] == ["OPS-1", "OPS-2", "OPS-3"]


def test_bulk_create_with_nothing_valid_is_a_400_that_still_has_errors(standin):
    version = "3" if standin.deployment == "Cloud" else "2"
    response = requests.post(f"{standin.base_url}/rest/api/{version}/issue/bulk",
                             json={"issueUpdates": [{"fields": {"summary": "no project"}}]},
                             auth=(standin.user, standin.token))
    assert response.status_code == 400
    body = response.json()
    assert body["issues"] == [] and body["errors"][0]["failedElementNumber"] == 0


def test_bulk_create_is_limited_to_fifty(standin):
    client = standin.client()
    results = client.create_issues([_fields(standin, f"x{n}", f"l{n}") for n in range(51)], prefetch=False)
    assert {r["status"] for r in results} == {"Error"}
    assert standin.issues == {}


def test_search_pages_to_the_end(standin):
    client = standin.client()
    for start in range(0, 130, 50):
        client.create_issues([_fields(standin, f"Item {n}", "govern") for n in range(start, min(start + 50, 130))],
                             prefetch=False)
    standin.reset_calls()
    found = client.search_issues("labels = govern ORDER BY key ASC", maxResults=False, fields="summary,labels")
    assert [i.key for i in found] == [f"OPS-{n}" for n in range(1, 131)]
    endpoint = "GET search/jql" if standin.deployment == "Cloud" else "GET search"
    assert standin.calls[endpoint] == 2  # the stand-in caps a page at 100, like Jira


def test_cloud_answers_410_on_the_old_search_and_pages_with_tokens():
    fake = JiraStandIn("Cloud")
    fake.serve()
    try:
        auth = (fake.user, fake.token)
        old = requests.get(f"{fake.base_url}/rest/api/3/search", params={"jql": "project = OPS"}, auth=auth)
        assert old.status_code == 410
        client = fake.client()
        client.create_issues([_fields(fake, f"Item {n}", "govern") for n in range(5)], prefetch=False)
        first = client.enhanced_search_issues("project = OPS ORDER BY key ASC", maxResults=2, json_result=True)
        assert len(first["issues"]) == 2 and first["nextPageToken"] and first["isLast"] is False
        second = client.enhanced_search_issues("project = OPS ORDER BY key ASC", maxResults=2,
                                               nextPageToken=first["nextPageToken"], json_result=True)
        assert [i["key"] for i in second["issues"]] == ["OPS-3", "OPS-4"]
        unbounded = requests.get(f"{fake.base_url}/rest/api/3/search/jql", params={"jql": "ORDER BY key"},
                                 auth=auth)
        assert unbounded.status_code == 400
    finally:
        fake.stop()


def test_jql_filters_by_project_updated_key_and_labels(standin):
    client = standin.client()
    results = client.create_issues([_fields(standin, f"Item {n}", f"govern-sol-{n}") for n in range(4)],
                                   prefetch=False)
    keys = [r["issue"].key for r in results]
    when = standin.clock().strftime("%Y/%m/%d %H:%M")
    found = client.search_issues(f'project = OPS AND updated >= "{when}" ORDER BY key DESC', maxResults=False)
    assert [i.key for i in found] == list(reversed(keys))
    assert client.search_issues('project = OPS AND updated >= "2999/01/01 00:00"', maxResults=False) == []
    found = client.search_issues(f"key in ({keys[0]}, {keys[2]})", maxResults=False)
    assert sorted(i.key for i in found) == [keys[0], keys[2]]
    found = client.search_issues("labels in (govern-sol-1, govern-sol-3) AND statusCategory != Done",
                                 maxResults=False)
    assert sorted(i.key for i in found) == [keys[1], keys[3]]
    with pytest.raises(jira_lib.JIRAError) as info:
        client.search_issues("nosuchfield = 1")
    assert info.value.status_code == 400


def test_transitions_move_through_status_categories(standin):
    client = standin.client()
    issue = client.create_issue(fields=_fields(standin, "Porting tracker page", "govern-sol-2"))
    names = {t["name"] for t in client.transitions(issue)}
    assert names == {"In Progress", "In Review", "Done"}
    client.transition_issue(issue, "In Progress")
    assert client.issue(issue.key).fields.status.statusCategory.key == "indeterminate"
    client.transition_issue(issue, "31")
    assert client.issue(issue.key).fields.status.statusCategory.name == "Done"
    with pytest.raises(jira_lib.JIRAError) as info:
        client.transition_issue(issue, "999")
    assert info.value.status_code == 400


def test_comments_and_remote_links(standin):
    client = standin.client()
    issue = client.create_issue(fields=_fields(standin, "Porting tracker page", "govern-sol-2"))
    body = adf_from_text("Linked from govern") if standin.deployment == "Cloud" else "Linked from govern"
    comment = client.add_comment(issue.key, body)
    assert comment.id
    assert len(client.comments(issue.key)) == 1
    link = {"url": "http://govern.example/solutions/2", "title": "SOL-2"}
    first = client.add_remote_link(issue.key, link, globalId="govern:solution:2")
    again = client.add_remote_link(issue.key, dict(link, title="SOL-2 (renamed)"), globalId="govern:solution:2")
    assert first.id == again.id  # the same globalId updates the link instead of adding one
    links = client.remote_links(issue.key)
    assert len(links) == 1 and links[0].object.title == "SOL-2 (renamed)"


def test_edit_issue_fields_and_labels(standin):
    client = standin.client()
    issue = client.create_issue(fields=_fields(standin, "Old", "govern-sol-9"))
    issue.update(fields={"summary": "New", "priority": {"name": "Low"}})
    fresh = client.issue(issue.key)
    assert fresh.fields.summary == "New" and fresh.fields.priority.name == "Low"


def test_429_carries_retry_after_in_seconds_or_as_an_http_date(standin):
    client = standin.client()
    standin.set_faults(script=["429"], retry_after=7)
    with pytest.raises(jira_lib.JIRAError) as info:
        client.server_info()
    assert info.value.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    standin.set_faults(script=["503"], retry_after=30, retry_after_style="date")
    with pytest.raises(jira_lib.JIRAError) as info:
        client.server_info()
    assert info.value.status_code == 503
    assert email.utils.parsedate_to_datetime(info.value.response.headers["Retry-After"]) is not None


def test_the_client_itself_retries_a_429_after_retry_after():
    fake = JiraStandIn("Cloud")
    fake.serve()
    try:
        client = fake.client(max_retries=1)
        fake.set_faults(script=["429"], retry_after=1)
        fake.reset_calls()
        assert client.server_info()["deploymentType"] == "Cloud"
        assert fake.calls["GET serverInfo"] == 2
    finally:
        fake.stop()


def test_a_dropped_connection_after_the_write_still_creates_the_issue(standin):
    client = standin.client()
    standin.set_faults(script=["drop"])
    with pytest.raises(requests.exceptions.ConnectionError):
        client.create_issue(fields=_fields(standin, "Dropped", "govern-sol-7"), prefetch=False)
    assert [i.key for i in standin.issues_with_label("govern-sol-7")] == ["OPS-1"]


def test_a_timeout_after_the_write_still_creates_the_issue(standin):
    client = standin.client(timeout=0.3)
    standin.set_faults(script=["timeout"], timeout_seconds=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        client.create_issue(fields=_fields(standin, "Slow", "govern-sol-8"), prefetch=False)
    assert len(standin.issues_with_label("govern-sol-8")) == 1


def test_server_errors_apply_nothing(standin):
    client = standin.client()
    standin.set_faults(script=["500"])
    with pytest.raises(jira_lib.JIRAError) as info:
        client.create_issue(fields=_fields(standin, "Nope", "govern-sol-5"), prefetch=False)
    assert info.value.status_code == 500
    assert standin.issues_with_label("govern-sol-5") == []


def test_call_counters_name_each_endpoint(standin):
    client = standin.client()
    issue = client.create_issue(fields=_fields(standin, "Counted", "govern-sol-3"), prefetch=False)
    client.issue(issue.key)
    assert standin.calls["POST issue"] == 1
    assert standin.calls["GET issue/<key>"] == 1
    answer = requests.get(f"{standin.base_url}/_standin/calls").json()
    assert answer["calls"]["POST issue"] == 1


def test_moving_an_issue_produces_a_signed_issue_updated_webhook(standin):
    client = standin.client()
    issue = client.create_issue(fields=_fields(standin, "Watched", "govern-sol-4"), prefetch=False)
    payload = standin.move_issue(issue.key, "Done", by="alice")
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue"]["key"] == issue.key
    assert payload["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert payload["changelog"]["items"][0]["toString"] == "Done"
    body, headers = standin.webhook_request(payload, "shared-secret")
    expected = "sha256=" + hmac.new(b"shared-secret", body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature"] == expected
    assert json.loads(body)["user"]["displayName"] == "alice"


def test_agile_rank_reorders_and_is_absent_without_jira_software():
    fake = JiraStandIn("Server")
    fake.serve()
    try:
        client = fake.client()
        keys = [r["issue"].key for r in client.create_issues(
            [_fields(fake, f"Item {n}", "r") for n in range(3)], prefetch=False)]
        client.rank(keys[2], next_issue=keys[0])
        ordered = client.search_issues("labels = r ORDER BY Rank ASC", maxResults=False)
        assert [i.key for i in ordered] == [keys[2], keys[0], keys[1]]
    finally:
        fake.stop()
    plain = JiraStandIn("Server", ranking=False)
    plain.serve()
    try:
        client = plain.client()
        keys = [r["issue"].key for r in client.create_issues(
            [_fields(plain, f"Item {n}", "r") for n in range(2)], prefetch=False)]
        with pytest.raises(jira_lib.JIRAError) as info:
            client.rank(keys[1], next_issue=keys[0])
        assert info.value.status_code == 404
    finally:
        plain.stop()


def test_jql_compares_updated_to_the_instant_and_orders_newest_first():
    import datetime as dt

    moment = {"at": dt.datetime(2026, 5, 1, 10, 0, 30)}
    with JiraStandIn("Server", projects=("OPS", "STAGE"), clock=lambda: moment["at"]) as fake:
        client = fake.client()
        first = client.create_issue(fields=_fields(fake, "First", "govern-sol-1"), prefetch=False).key
        moment["at"] = dt.datetime(2026, 5, 1, 10, 5, 10)
        second = client.create_issue(fields=_fields(fake, "Second", "govern-sol-2"), prefetch=False).key
        other = dict(_fields(fake, "Elsewhere", "govern-sol-1"), project={"key": "STAGE"})
        client.create_issue(fields=other, prefetch=False)
        # 10:00:30 is after "10:00" (Jira compares the instant, not the minute)
        after = client.search_issues('project = OPS AND updated > "2026/05/01 10:00" ORDER BY updated DESC',
                                     maxResults=False)
        assert [i.key for i in after] == [second, first]
        assert [i.key for i in client.search_issues('project = OPS AND labels in (govern-sol-1)',
                                                    maxResults=False)] == [first]


def test_an_outage_refuses_every_call_until_it_ends(standin):
    import datetime as dt

    client = standin.client(timeout=2)
    standin.start_outage("503", retry_after=30)
    with pytest.raises(jira_lib.JIRAError) as info:
        client.create_issue(fields=_fields(standin, "During", "x"), prefetch=False)
    assert info.value.status_code == 503 and info.value.response.headers["Retry-After"] == "30"
    standin.start_outage("refuse")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{standin.base_url}/rest/api/2/serverInfo", auth=(standin.user, standin.token), timeout=2)
    standin.start_outage("502", until=standin.clock() - dt.timedelta(seconds=1))  # already over
    assert client.create_issue(fields=_fields(standin, "After", "x"), prefetch=False).key
    assert len(standin.issues) == 1 and standin.calls_refused_by_outage == 2
