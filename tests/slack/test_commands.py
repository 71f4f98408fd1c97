"""The /journey slash command through the Slack endpoint: every subcommand, good and malformed, as Slack sends it."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import ApprovalRequest, Insight, Journey, Opportunity, Person
from tests.slack.support import said

LOTTE, ANA, PRIYA, STRANGER = "U0LOTTE01", "U0ANA0001", "U0PRIYA01", "U0STRANGER"


def ask(slack, client, text, user=LOTTE):
    status, answer, _ = slack.command(client, text, user_id=user)
    assert status == 200
    return answer


def opportunity(db, number):
    with db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == number))
        return opp.state, [i.key for i in opp.insights]


def test_help_lists_every_subcommand(slack, slack_client):
    answer = ask(slack, slack_client, "help")
    assert answer["response_type"] == "ephemeral"
    for usage in ("status OPP", "list [mine|all|awaiting|JOURNEY]", 'evidence OPP "text" [source]',
                  "move OPP STATE [reason]", "approve OPP", "reject OPP reason", "agenda [RITUAL]", "owner JOURNEY"):
        assert f"/journey {usage}" in said(answer)


def test_empty_text_is_help_and_unknown_words_get_help(slack, slack_client):
    assert "/journey status OPP" in said(ask(slack, slack_client, ""))
    answer = ask(slack, slack_client, "frobnicate OPP-1")
    assert "I do not know 'frobnicate'" in said(answer) and "/journey move OPP STATE" in said(answer)


def test_command_name_comes_from_the_slack_setting(slack, slack_client, example_db):
    from govern.services.common import put_setting

    with example_db.session_scope() as s:
        put_setting(s, "slack", {"command": "/cx", "council_channel": "cx-council"})
        s.commit()
    assert "/cx status OPP" in said(ask(slack, slack_client, "help"))


def test_status_by_key_and_by_title_words(slack, slack_client):
    answer = ask(slack, slack_client, "status OPP-1")
    text = said(answer)
    assert "OPP-1" in text and "keep switchers informed" in text and "Research" in text and "Lotte de Vries" in text
    assert "Switching providers" in text and "5 insights" in text
    assert "OPP-1" in said(ask(slack, slack_client, "status switchers informed"))
    assert "OPP-3" in said(ask(slack, slack_client, "status 3"))


def test_status_malformed_ambiguous_and_unknown(slack, slack_client):
    assert "Usage: `/journey status OPP`" in said(ask(slack, slack_client, "status"))
    ambiguous = said(ask(slack, slack_client, "status how might we"))
    assert "more than one opportunity" in ambiguous and "OPP-1" in ambiguous
    assert "unknown opportunity 'OPP-999'" in said(ask(slack, slack_client, "status OPP-999"))
    assert "no opportunity matches" in said(ask(slack, slack_client, "status zebra crossings"))


def test_status_shows_a_pending_request(slack, slack_client):
    ask(slack, slack_client, "move OPP-1 prioritise")
    assert "Awaiting approval: *Research → Prioritise* requested by Lotte de Vries" in said(
        ask(slack, slack_client, "status OPP-1"))


def test_list_mine_awaiting_and_by_journey(slack, slack_client):
    mine = said(ask(slack, slack_client, "list"))
    assert "Your open opportunities* (3)" in mine and "OPP-1" in mine and "OPP-3" not in mine
    assert said(ask(slack, slack_client, "list mine")) == mine
    billing = said(ask(slack, slack_client, "list paying-my-bill"))  # the journey and its sub-journeys
    assert "OPP-2" in billing and "OPP-3" in billing and "OPP-1" not in billing
    assert "OPP-1" in said(ask(slack, slack_client, "list switching providers"))  # by name words
    assert "Nothing awaits you" in said(ask(slack, slack_client, "list awaiting", user=ANA))
    ask(slack, slack_client, "move OPP-1 prioritise")
    awaiting = said(ask(slack, slack_client, "list awaiting", user=ANA))
    assert "Awaiting your approval* (1)" in awaiting and "OPP-1" in awaiting and "Research → Prioritise" in awaiting


def test_list_of_an_unknown_journey(slack, slack_client):
    assert "no journey matches 'atlantis'" in said(ask(slack, slack_client, "list atlantis"))


def test_evidence_is_recorded_and_linked(slack, slack_client, example_db):
    answer = ask(slack, slack_client, 'evidence OPP-1 "Porting took 9 days, nobody told me why" tickets')
    assert "Recorded INS-" in said(answer)
    state, insights = opportunity(example_db, 1)
    with example_db.session_scope() as s:
        insight = s.scalar(sa.select(Insight).order_by(Insight.number.desc()).limit(1))
        assert insight.text == "Porting took 9 days, nobody told me why"
        assert (insight.source, insight.kind) == ("tickets", "ticket")
        assert insight.created_by.handle == "lotte"
        assert insight.key in insights


def test_evidence_accepts_curly_quotes_and_defaults_the_source(slack, slack_client, example_db):
    ask(slack, slack_client, "evidence switchers informed “Nobody said when my number would move”")
    with example_db.session_scope() as s:
        insight = s.scalar(sa.select(Insight).order_by(Insight.number.desc()).limit(1))
    assert (insight.text, insight.source) == ("Nobody said when my number would move", "Slack")


def test_evidence_malformed_gets_its_usage(slack, slack_client, example_db):
    with example_db.session_scope() as s:
        before = s.scalar(sa.select(sa.func.count(Insight.id)))
    for text in ("evidence", "evidence OPP-1", 'evidence OPP-1 "never closed', "evidence OPP-1 no quotes at all",
                 'evidence "text but no opportunity"', 'evidence OPP-1 ""'):
        assert 'Usage: `/journey evidence OPP "text" [source]`' in said(ask(slack, slack_client, text)), text
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count(Insight.id))) == before


def test_move_that_needs_approval_creates_a_request(slack, slack_client, example_db):
    answer = said(ask(slack, slack_client, "move OPP-1 prioritise ready for the council"))
    assert "Requested prioritise for OPP-1" in answer and "the lead (Ana Silva)" in answer
    with example_db.session_scope() as s:
        request = s.scalar(sa.select(ApprovalRequest))
        assert (request.status, request.to_state, request.reason) == ("pending", "prioritise", "ready for the council")


def test_move_without_approval_moves_now(slack, slack_client, example_db):
    answer = said(ask(slack, slack_client, "move OPP-6 parked waiting for eSIM support"))
    assert "OPP-6 moved from Research to Parked" in answer
    assert opportunity(example_db, 6)[0] == "parked"


def test_move_refused_lists_every_unmet_guard(slack, slack_client, example_db):
    answer = said(ask(slack, slack_client, "move OPP-10 prioritise"))
    assert "cannot prioritise" in answer and "• needs 2 pieces of evidence, has 1" in answer
    assert opportunity(example_db, 10)[0] == "research"


def test_move_malformed_and_unknown_state(slack, slack_client):
    assert "Usage: `/journey move OPP STATE [reason]`" in said(ask(slack, slack_client, "move OPP-1"))
    assert "Usage: `/journey move OPP STATE [reason]`" in said(ask(slack, slack_client, "move"))
    assert "neither a trigger nor a state" in said(ask(slack, slack_client, "move OPP-1 heaven"))
    assert "a reason is required" in said(ask(slack, slack_client, "move OPP-6 parked"))


def test_move_by_someone_not_allowed_is_refused_politely(slack, slack_client, example_db):
    answer = said(ask(slack, slack_client, "move OPP-1 parked no time", user=PRIYA))
    assert "priya (supporter) may not move an opportunity" in answer
    assert opportunity(example_db, 1)[0] == "research"


def test_approve_by_command(slack, slack_client, example_db):
    ask(slack, slack_client, "move OPP-1 prioritise")
    refused = said(ask(slack, slack_client, "approve OPP-1"))  # the requester never approves her own request
    assert "you cannot approve it (separation of duties); waiting for: the lead (Ana Silva)" in refused
    assert opportunity(example_db, 1)[0] == "research"
    answer = said(ask(slack, slack_client, "approve switchers informed", user=ANA))
    assert "Approved; OPP-1 moved from Research to Prioritise" in answer
    assert opportunity(example_db, 1)[0] == "prioritise"


def test_reject_by_command(slack, slack_client, example_db):
    ask(slack, slack_client, "move OPP-1 prioritise")
    answer = said(ask(slack, slack_client, "reject OPP-1 needs evidence from the porting partner", user=ANA))
    assert "Rejected the request for OPP-1 (Research → Prioritise)" in answer
    with example_db.session_scope() as s:
        request = s.scalar(sa.select(ApprovalRequest))
        assert (request.status, request.decided_reason) == ("rejected", "needs evidence from the porting partner")
    assert opportunity(example_db, 1)[0] == "research"


def test_approve_and_reject_malformed_or_nothing_pending(slack, slack_client):
    assert "Usage: `/journey approve OPP`" in said(ask(slack, slack_client, "approve", user=ANA))
    assert "OPP-6 has no request awaiting approval" in said(ask(slack, slack_client, "approve OPP-6", user=ANA))
    ask(slack, slack_client, "move OPP-1 prioritise")
    answer = said(ask(slack, slack_client, "reject OPP-1", user=ANA))
    assert "Usage: `/journey reject OPP reason`" in answer and "a reason is required" in answer
    assert "Usage: `/journey reject OPP reason`" in said(ask(slack, slack_client, "reject", user=ANA))


def test_agenda_is_finished_through_response_url(slack, slack_client, workspace):
    status, ack, response_url = slack.command(slack_client, "agenda weekly council", user_id=LOTTE)
    assert status == 200 and "Building the agenda" in said(ack)
    post = workspace.wait_for(lambda: workspace.posts_to(response_url))[0]
    assert post.status == 200 and post.body["response_type"] == "ephemeral"
    assert "Agenda: Weekly council review" in said(post.body)


def test_agenda_without_a_ritual_takes_the_next_one_and_unknown_rituals_are_named(slack, slack_client, workspace):
    _, _, url = slack.command(slack_client, "agenda", user_id=LOTTE)
    assert "Agenda:" in said(workspace.wait_for(lambda: workspace.posts_to(url))[0].body)
    _, _, url = slack.command(slack_client, "agenda tea party", user_id=LOTTE)
    answer = said(workspace.wait_for(lambda: workspace.posts_to(url))[0].body)
    assert "no single ritual matches 'tea party'" in answer and "weekly-council-review" in answer


def test_owner_of_a_journey_by_key_or_name_and_ownership_gaps(slack, slack_client, example_db):
    assert "owned by *Lotte de Vries*" in said(ask(slack, slack_client, "owner switching-providers"))
    assert "owned by *Femke Jansen*" in said(ask(slack, slack_client, "owner paying my bill"))
    assert "Usage: `/journey owner JOURNEY`" in said(ask(slack, slack_client, "owner"))
    assert "no journey matches" in said(ask(slack, slack_client, "owner atlantis"))
    with example_db.session_scope() as s:
        s.scalar(sa.select(Journey).where(Journey.key == "moving-house")).owner_id = None
        s.commit()
    assert "has *no owner*" in said(ask(slack, slack_client, "owner moving-house"))


def test_public_flag_answers_in_the_channel(slack, slack_client):
    assert ask(slack, slack_client, "status OPP-1 --public")["response_type"] == "in_channel"
    assert ask(slack, slack_client, "status OPP-1")["response_type"] == "ephemeral"


def test_unmapped_user_may_read_but_not_write(slack, slack_client, example_db):
    assert "OPP-1" in said(ask(slack, slack_client, "status OPP-1", user=STRANGER))
    assert "Open opportunities" in said(ask(slack, slack_client, "list", user=STRANGER))
    for text in ('evidence OPP-1 "x y z"', "move OPP-1 prioritise", "approve OPP-1", "reject OPP-1 no"):
        answer = said(ask(slack, slack_client, text, user=STRANGER))
        assert "could not match your Slack account (U0STRANGER)" in answer and "cannot make changes" in answer
    assert "do not know what is yours" in said(ask(slack, slack_client, "list mine", user=STRANGER))
    assert opportunity(example_db, 1) [0] == "research"
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count(ApprovalRequest.id))) == 0


def test_people_without_a_stored_slack_id_are_found_by_email_once(slack, slack_client, example_db, workspace):
    with example_db.session_scope() as s:
        s.scalar(sa.select(Person).where(Person.handle == "lotte")).slack_id = None
        s.commit()
    assert "Recorded INS-" in said(ask(slack, slack_client, 'evidence OPP-1 "found by e-mail"'))
    lookups = len(workspace.calls_to("users.info"))  # one call for the Slack user, not one per e-mail-only person
    assert lookups == 1 and workspace.calls_to("users.lookupByEmail") == []
    assert "Your open opportunities" in said(ask(slack, slack_client, "list"))
    assert len(workspace.calls_to("users.info")) == lookups  # cached


def test_list_says_what_it_shows_and_all_shows_every_open_one(slack, slack_client, example_db):
    mine = said(ask(slack, slack_client, "list"))
    assert "Your open opportunities" in mine and "`list all` for every open one" in mine
    everything = said(ask(slack, slack_client, "list all"))
    assert "Open opportunities" in everything and "OPP-1" in everything
    stranger = said(ask(slack, slack_client, "list", user=STRANGER))
    assert "OPP-1" in stranger and "Slack could not tell who you are" in stranger
    assert "list [mine|all|awaiting|JOURNEY]" in said(ask(slack, slack_client, "help"))


def test_answers_link_back_to_the_web_app(slack, slack_client, slack_app):
    base = slack_app.extensions["govern"].config.base_url.rstrip("/")
    assert f"<{base}/opportunities/OPP-1|Open OPP-1 in the web app>" in said(ask(slack, slack_client, "status OPP-1"))
    assert f"<{base}/journeys/switching-providers|" in said(ask(slack, slack_client, "owner switching-providers"))
