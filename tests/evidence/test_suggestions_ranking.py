"""The suggestions on a small realistic corpus (pure computation, no database): steps ranked sensibly, near-duplicates
found without false friends, themes that keep topics apart, and VADER's sentiment on the -2..+2 scale."""

from __future__ import annotations

from govern.queries.suggestions import (
    SUGGESTION, StepDoc, duplicate_pairs, near_duplicates, suggest_sentiment, suggest_steps, themes,
)

STEPS = [
    StepDoc("switching/port-number", "Port my number", "Switching providers", "Port my number Porting SMS",
            ("Porting took 9 days, nobody told me why", "38% of porting orders wait more than 5 days",
             "Where is my porting request? The app only says processing")),
    StepDoc("billing/understand-charges", "Understand the charges", "Paying my bill", "Understand the charges",
            ("The first bill was double because of the pro-rata period", "Bill CSAT drops in months with roaming",
             "Invoice shows a charge I do not recognise")),
    StepDoc("help/contact-support", "Contact support", "Getting help", "Contact support phone chat",
            ("I waited 25 minutes on the service line", "I had to call three times to activate my SIM")),
    StepDoc("connected/first-week", "First week online", "Getting connected", "First week online app", ()),
    StepDoc("roaming/enable-roaming", "Enable roaming", "Managing roaming", "Enable roaming abroad data", ()),
]


def _top(text: str) -> str:
    return suggest_steps(text, STEPS, limit=3)[0].step


def test_steps_are_ranked_by_what_the_text_is_about():
    assert _top("My porting has been stuck for a week and nobody tells me the date") == "switching/port-number"
    assert _top("Why is my invoice twice as high this month?") == "billing/understand-charges"
    assert _top("Nobody answers the service line, I waited 40 minutes") == "help/contact-support"
    assert _top("How do I switch on roaming before my holiday abroad") == "roaming/enable-roaming"
    ranked = suggest_steps("porting stuck", STEPS, limit=5)
    assert all(s.label == SUGGESTION for s in ranked)
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)


def test_unrelated_text_gets_no_confident_suggestion():
    assert suggest_steps("zzzz qqqq", STEPS) == []


def test_near_duplicates_are_found_and_different_texts_are_not():
    candidates = [("INS-33", "Porting took 9 days, nobody told me why"),
                  ("INS-2", "Porting took 2 days and everything went fine"),
                  ("INS-3", "The first bill was double")]
    found = near_duplicates("Porting took 9 days; nobody told me why!", candidates)
    assert [d.key for d in found] == ["INS-33"] and found[0].label == SUGGESTION
    assert near_duplicates("I love the new app", candidates) == []
    pairs = duplicate_pairs([("INS-33", "Porting took 9 days, nobody told me why"),
                             ("INS-34", "Porting took 9 days, nobody told me why"), ("INS-3", "Bill doubled")])
    assert [(a, b) for a, b, _ in pairs] == [("INS-33", "INS-34")]


def test_themes_keep_topics_apart_and_name_a_step_for_each():
    items = [(f"INS-{i}", t) for i, t in enumerate([
        "Porting failed, my number is gone", "Number porting stuck for days", "The porting SMS never arrived",
        "Porting code rejected by the donor operator", "Invoice doubled after the plan change",
        "Bill shows a charge I do not know", "My invoice has a pro-rata charge nobody explained",
        "Unexpected charge on my bill again"], start=1)]
    found = themes(items, STEPS, n_themes=2)
    assert sorted(t.size for t in found) == [4, 4]
    by_step = {t.step.step: set(t.keys) for t in found}
    assert by_step["switching/port-number"] == {"INS-1", "INS-2", "INS-3", "INS-4"}
    assert by_step["billing/understand-charges"] == {"INS-5", "INS-6", "INS-7", "INS-8"}
    assert all(t.top_words and t.label == SUGGESTION for t in found)
    assert themes(items) == themes(items)  # deterministic


def test_sentiment_is_vader_compound_on_the_insight_scale():
    assert suggest_sentiment("I love how fast and easy this was, great service!") > 1
    assert suggest_sentiment("Terrible, I waited for hours and nobody helped, awful") < -1
    assert -0.5 <= suggest_sentiment("The bill arrived on Tuesday") <= 0.5
    assert suggest_sentiment("") == 0.0
