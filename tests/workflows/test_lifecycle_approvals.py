"""Approval rules as pure functions: owners, roles, quorum, all_of, separation of duties and the fallbacks."""

from govern.workflows import approvals
from govern.workflows.approvals import ApprovalContext

LOTTE, ANA, PIM, LEAD, MANAGER1, MANAGER2, MANAGER3, RUBEN = 1, 2, 3, 10, 20, 21, 22, 30
NAMES = {LOTTE: "lotte", ANA: "ana", PIM: "pim", LEAD: "lea", MANAGER1: "max", MANAGER2: "mia", MANAGER3: "mo",
         RUBEN: "ruben"}
ROLES = {"lead": frozenset({LEAD}), "manager": frozenset({MANAGER1, MANAGER2, MANAGER3}),
         "supporter": frozenset({RUBEN})}


def ctx(owners, requester, roles=ROLES):
    return ApprovalContext(journey_owners=owners, role_holders=roles, requester_id=requester, names=NAMES)


TWO_JOURNEYS = {"switching-providers": LOTTE, "moving-house": ANA}


def test_owners_all_waives_the_requesters_own_journey_and_waits_for_the_others():
    # Scenario 1.5: Lotte (owner of switching-providers) moves it; the owner of moving-house approves.
    c = ctx(TWO_JOURNEYS, requester=LOTTE)
    status = approvals.evaluate({"owners": "all"}, c, [])
    assert not status.satisfied
    assert status.eligible() == {ANA: ["owner:moving-house"]}
    assert status.waiting_for() == ["the owner of moving-house (ana)"]
    assert approvals.evaluate({"owners": "all"}, c, [ANA]).satisfied


def test_owners_all_needs_every_owner_when_someone_else_requests():
    c = ctx(TWO_JOURNEYS, requester=MANAGER1)
    assert not approvals.evaluate({"owners": "all"}, c, [ANA]).satisfied
    assert approvals.evaluate({"owners": "all"}, c, [ANA, LOTTE]).satisfied


def test_requester_who_owns_every_journey_still_needs_someone_else_the_lead():
    c = ctx({"switching-providers": LOTTE}, requester=LOTTE)
    status = approvals.evaluate({"owners": "all"}, c, [])
    assert not status.satisfied
    assert status.eligible() == {LEAD: ["lead:requester-owns-all"]}
    assert approvals.evaluate({"owners": "all"}, c, [LEAD]).satisfied


def test_a_journey_without_owner_can_be_approved_for_by_the_lead():
    c = ctx({"switching-providers": LOTTE, "moving-house": None}, requester=LOTTE)
    status = approvals.evaluate({"owners": "all"}, c, [])
    assert status.waiting_for() == ["the lead, for moving-house which has no owner (lea)"]
    assert approvals.evaluate({"owners": "all"}, c, [LEAD]).satisfied


def test_owners_any_is_met_by_one_owner_other_than_the_requester():
    c = ctx({"a": LOTTE, "b": ANA, "c": PIM}, requester=LOTTE)
    status = approvals.evaluate({"owners": "any"}, c, [])
    assert set(status.eligible()) == {ANA, PIM}
    assert approvals.evaluate({"owners": "any"}, c, [PIM]).satisfied


def test_owners_any_falls_back_to_the_lead_when_the_requester_is_the_only_owner():
    c = ctx({"a": LOTTE}, requester=LOTTE)
    assert approvals.evaluate({"owners": "any"}, c, []).eligible() == {LEAD: ["lead:no-other-owner"]}


def test_role_rule_is_met_by_a_holder_of_the_role():
    c = ctx(TWO_JOURNEYS, requester=LOTTE)
    status = approvals.evaluate({"role": "lead"}, c, [])
    assert status.eligible() == {LEAD: ["role:lead"]}
    assert approvals.evaluate({"role": "lead"}, c, [LEAD]).satisfied


def test_quorum_needs_n_distinct_holders():
    rule = {"quorum": {"role": "manager", "n": 2}}
    c = ctx(TWO_JOURNEYS, requester=LOTTE)
    one = approvals.evaluate(rule, c, [MANAGER1])
    assert not one.satisfied
    assert one.waiting_for() == ["1 more of 2 managers (max, mia, mo)"]
    assert set(one.eligible()) == {MANAGER2, MANAGER3}
    assert not approvals.evaluate(rule, c, [MANAGER1, MANAGER1]).satisfied  # the same person twice counts once
    assert approvals.evaluate(rule, c, [MANAGER1, MANAGER3]).satisfied


def test_quorum_excludes_the_requester_and_says_when_it_cannot_be_met():
    rule = {"quorum": {"role": "manager", "n": 3}}
    c = ctx(TWO_JOURNEYS, requester=MANAGER1)
    status = approvals.evaluate(rule, c, [MANAGER1])
    assert MANAGER1 not in status.approvers
    assert status.impossible() == ["3 managers (mia, mo): only 2 people other than the requester can approve"]


def test_all_of_needs_every_part_and_one_vote_counts_for_every_part_it_can():
    rule = {"all_of": [{"owners": "all"}, {"role": "lead"}]}
    c = ctx({"a": LOTTE, "b": LEAD}, requester=LOTTE)
    status = approvals.evaluate(rule, c, [])
    assert status.eligible() == {LEAD: ["owner:b", "role:lead"]}
    assert approvals.evaluate(rule, c, [LEAD]).satisfied
    rule2 = {"all_of": [{"owners": "all"}, {"quorum": {"role": "manager", "n": 2}}]}
    c2 = ctx(TWO_JOURNEYS, requester=LOTTE)
    assert not approvals.evaluate(rule2, c2, [ANA, MANAGER1]).satisfied
    assert approvals.evaluate(rule2, c2, [ANA, MANAGER1, MANAGER2]).satisfied


def test_the_requester_can_never_approve():
    c = ctx(TWO_JOURNEYS, requester=LEAD)
    status = approvals.evaluate({"role": "lead"}, c, [LEAD])
    assert not status.satisfied
    refusal = status.refusal(LEAD)
    assert refusal.startswith("you requested this transition, so you cannot approve it (separation of duties)")


def test_refusals_name_what_the_request_needs():
    c = ctx(TWO_JOURNEYS, requester=LOTTE)
    status = approvals.evaluate({"owners": "all"}, c, [])
    assert status.refusal(ANA) is None
    assert status.refusal(RUBEN) == (
        "you are not an approver for this request; it needs the owner of moving-house (ana)")
    assert "local operator" in status.refusal(None)
    after = approvals.evaluate({"owners": "all"}, c, [ANA])
    assert after.refusal(ANA) == "you have already approved this request"


def test_anyone_who_may_approve_may_reject_but_not_the_requester():
    c = ctx(TWO_JOURNEYS, requester=LOTTE)
    status = approvals.evaluate({"owners": "all"}, c, [])
    assert status.refusal(ANA, decision="reject") is None
    assert status.refusal(RUBEN, decision="reject").startswith("you are not an approver")
    assert "separation of duties" in status.refusal(LOTTE, decision="reject")


def test_capacity_is_recorded_for_the_vote():
    c = ctx(TWO_JOURNEYS, requester=MANAGER1)
    assert approvals.evaluate({"owners": "all"}, c, []).capacity_of(ANA) == "owner:moving-house"


def test_rule_validation_names_each_problem():
    assert approvals.validate_rule({"owners": "some"}, "t.approval") == {"t.approval.owners": "must be 'all' or 'any', got 'some'"}
    assert "t.approval.role" in approvals.validate_rule({"role": "The Boss"}, "t.approval")
    assert "t.approval.person" in approvals.validate_rule({"person": ["ana"]}, "t.approval")
    problems = approvals.validate_rule({"quorum": {"role": "manager", "n": 0, "x": 1}}, "t.approval")
    assert set(problems) == {"t.approval.quorum.n", "t.approval.quorum.x"}
    assert "t.approval.all_of" in approvals.validate_rule({"all_of": []}, "t.approval")
    assert "t.approval.all_of[1].role" in approvals.validate_rule({"all_of": [{"role": "lead"}, {"role": "X"}]},
                                                                  "t.approval")
    assert "t.approval" in approvals.validate_rule({"vote": "all"}, "t.approval")
    assert "t.approval" in approvals.validate_rule({"role": "lead", "owners": "all"}, "t.approval")


def test_rules_read_in_plain_words():
    assert approvals.describe_rule({"owners": "all"}) == "the owner of every journey it touches"
    assert approvals.describe_rule({"quorum": {"role": "manager", "n": 2}}) == "2 managers"
    assert approvals.describe_rule({"all_of": [{"role": "lead"}, {"owners": "any"}]}) == (
        "the lead and the owner of any journey it touches")
