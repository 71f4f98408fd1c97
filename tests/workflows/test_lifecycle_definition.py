"""Loading and validating lifecycle definitions: every problem named by its place, all reported at once."""

import copy

import pytest
import yaml

from govern.errors import InvalidInput
from govern.workflows.definition import load_definition, parse_definition, shipped_names

GOOD = {
    "name": "tiny",
    "initial": "draft",
    "final": ["done"],
    "states": {
        "draft": {"description": "being written"},
        "review": {"description": "being reviewed"},
        "done": {"description": "finished"},
    },
    "transitions": [
        {"trigger": "submit", "source": "draft", "dest": "review", "guards": [{"has_evidence": {"min": 1}}]},
        {"trigger": "accept", "source": "review", "dest": "done", "approval": {"role": "lead"},
         "effects": [{"notify": {"channel": "#cx-council"}}]},
        {"trigger": "rework", "source": "review", "dest": "draft", "requires_reason": True},
    ],
}


def problems_of(data):
    with pytest.raises(InvalidInput) as caught:
        parse_definition(data, "tiny.yaml")
    return caught.value.details


def mutated(change):
    data = copy.deepcopy(GOOD)
    change(data)
    return data


def test_shipped_definitions_load():
    assert {"default", "triple_diamond"} <= set(shipped_names())
    default = load_definition("default")
    assert default.initial == "research" and set(default.final) == {"done", "rejected"}
    assert [s for s in default.states] == ["research", "prioritise", "implement", "evaluate", "done", "parked",
                                           "rejected"]
    assert all(s.description for s in default.states.values())


def test_a_good_definition_parses():
    d = parse_definition(GOOD)
    assert d.name == "tiny" and len(d.transitions) == 3
    assert d.transitions[0].guards[0].params == {"min": 1}
    assert d.transitions[2].requires_reason


def test_unknown_state_as_dest_is_named_with_a_suggestion():
    problems = problems_of(mutated(lambda d: d["transitions"][0].update(dest="reveiw")))
    assert problems["transitions[0].dest"] == "unknown state 'reveiw' (did you mean 'review'?)"


def test_unknown_state_as_source_is_named():
    problems = problems_of(mutated(lambda d: d["transitions"][1].update(source=["review", "limbo"])))
    assert problems["transitions[1].source[1]"] == "unknown state 'limbo'"


def test_unknown_initial_and_final_states():
    problems = problems_of(mutated(lambda d: d.update(initial="start", final=["finished"])))
    assert problems["initial"].startswith("unknown state 'start'")
    assert problems["final[0]"].startswith("unknown state 'finished'")


def test_unknown_guard_is_named_with_a_suggestion():
    problems = problems_of(mutated(lambda d: d["transitions"][0].update(guards=["has_owner", "has_evidense"])))
    assert problems["transitions[0].guards[1]"] == ("unknown guard 'has_evidense' (did you mean 'has_evidence'?) "
                                                    "(or declare it under checks:)")


def test_bad_guard_parameters_are_named():
    problems = problems_of(mutated(lambda d: d["transitions"][0].update(guards=[{"has_evidence": {"min": -1,
                                                                                                   "max": 2}}])))
    assert problems["transitions[0].guards[0].has_evidence.min"] == "must be at least 1, got -1"
    assert "transitions[0].guards[0].has_evidence.max" in problems


def test_unreachable_state_is_an_error():
    def add_island(d):
        d["states"]["island"] = {"description": "nobody gets here"}
        d["transitions"].append({"trigger": "leave", "source": "island", "dest": "done"})
    problems = problems_of(mutated(add_island))
    assert problems["states.island"] == "unreachable from the initial state 'draft'"


def test_a_state_with_no_way_out_that_is_not_final_is_an_error():
    def dead_end(d):
        d["states"]["limbo"] = {"description": "stuck"}
        d["transitions"].append({"trigger": "stall", "source": "draft", "dest": "limbo"})
    problems = problems_of(mutated(dead_end))
    assert problems["states.limbo"] == "no transition leaves this state and it is not listed in final"


def test_duplicate_trigger_from_the_same_source_is_an_error():
    problems = problems_of(mutated(lambda d: d["transitions"].append(
        {"trigger": "submit", "source": ["review", "draft"], "dest": "done"})))
    assert problems["transitions[3].trigger"] == (
        "duplicate trigger 'submit' from state 'draft' (already defined by transitions[0])")


def test_bad_approval_rules_are_named():
    problems = problems_of(mutated(lambda d: d["transitions"][1].update(
        approval={"all_of": [{"owners": "every"}, {"quorum": {"role": "manager"}}]})))
    assert problems["transitions[1].approval.all_of[0].owners"] == "must be 'all' or 'any', got 'every'"
    assert problems["transitions[1].approval.all_of[1].quorum.n"] == "is required"


def test_unknown_effects_and_bad_effect_parameters_are_named():
    problems = problems_of(mutated(lambda d: d["transitions"][1].update(
        effects=["send_fax", {"notify": {}}, {"schedule_evaluation": {"after_days": 0}}])))
    assert problems["transitions[1].effects[0]"].startswith("unknown effect 'send_fax'")
    assert problems["transitions[1].effects[1].notify.channel"] == "is required"
    assert problems["transitions[1].effects[2].schedule_evaluation.after_days"].startswith("must be a whole number")


def test_missing_descriptions_and_unknown_keys_are_named():
    def sloppy(d):
        d["states"]["review"] = {}
        d["transitions"][0]["gaurds"] = []
        d["colour"] = "blue"
    problems = problems_of(mutated(sloppy))
    assert problems["states.review.description"].startswith("is required")
    assert problems["transitions[0].gaurds"].startswith("unknown key (did you mean 'guards'?)")
    assert problems["colour"].startswith("unknown key")


def test_every_problem_is_reported_at_once():
    def many(d):
        d["transitions"][0]["dest"] = "nowhere"
        d["transitions"][1]["guards"] = ["magic"]
        d["transitions"][2]["approval"] = {"role": "King Arthur"}
        d["transitions"][2]["requires_reason"] = "yes"
    with pytest.raises(InvalidInput) as caught:
        parse_definition(mutated(many), "tiny.yaml")
    details = caught.value.details
    assert {"transitions[0].dest", "transitions[1].guards[0]", "transitions[2].approval.role",
            "transitions[2].requires_reason"} <= set(details)
    assert caught.value.message.startswith("tiny.yaml: ")


def test_load_from_a_file_and_report_yaml_errors(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text(yaml.safe_dump(GOOD))
    assert load_definition(good).name == "tiny"
    assert load_definition(str(good)).name == "tiny"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstates: [\n")
    with pytest.raises(InvalidInput) as caught:
        load_definition(bad)
    assert "not valid YAML" in caught.value.message


def test_unknown_names_and_missing_files_are_refused(tmp_path):
    with pytest.raises(InvalidInput, match="unknown lifecycle 'kanban'"):
        load_definition("kanban")
    with pytest.raises(InvalidInput, match="no lifecycle definition file"):
        load_definition(tmp_path / "missing.yaml")


def test_every_shipped_state_declares_its_kind_and_title():
    for name in shipped_names():
        raw = load_definition(name).raw
        for state, body in raw["states"].items():
            assert body.get("kind") and body.get("title"), f"{name}: states.{state}"


def test_state_kinds_and_titles_are_read_with_plain_defaults():
    d = parse_definition(mutated(lambda d: d["states"]["review"].update(kind="evaluation", title="Peer review")))
    assert (d.states["review"].kind, d.states["review"].title) == ("evaluation", "Peer review")
    assert (d.states["draft"].kind, d.states["draft"].title) == ("active", "Draft")
    assert d.states["done"].kind == "final"


def test_bad_state_kinds_and_titles_are_named_by_path():
    problems = problems_of(mutated(lambda d: (d["states"]["review"].update(kind="evalution"),
                                              d["states"]["draft"].update(kind="final"),
                                              d["states"]["done"].update(kind="parked", title=""))))
    assert problems["states.review.kind"].startswith("unknown kind 'evalution' (did you mean 'evaluation'?)")
    assert problems["states.draft.kind"] == "is final, but the state is not listed under `final`"
    assert problems["states.done.kind"].startswith("is parked, but the state is listed under `final`")
    assert problems["states.done.title"] == "must be text: what people call this state"


def test_final_may_be_left_to_the_state_kinds():
    data = mutated(lambda d: (d.pop("final"), d["states"]["done"].update(kind="final")))
    assert parse_definition(data).final == ("done",)
