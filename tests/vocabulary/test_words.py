"""The organisation's words for the product's nouns: plurals, placeholders, validation of the `words:` section."""

from __future__ import annotations

from govern.vocabulary import DEFAULT, english_plural, validate_words, vocabulary_from

HOSPITAL = {"opportunity": "improvement idea", "customer": "patient",
            "insight": {"one": "piece of patient feedback", "many": "pieces of patient feedback"},
            "journey_owner": "pathway lead"}


def test_counts_are_singular_only_for_one():
    assert DEFAULT.count(1, "solution") == "1 solution"
    assert DEFAULT.count(2, "solution") == "2 solutions"
    assert DEFAULT.count(0, "opportunity") == "0 opportunities"
    assert DEFAULT.count(1, "evidence") == "1 piece of evidence"


def test_regular_plurals_follow_english():
    assert [english_plural(w) for w in ("idea", "policy", "day", "box", "patch")] == \
        ["ideas", "policies", "days", "boxes", "patches"]


def test_renamed_nouns_keep_the_placeholders_capitals_and_articles():
    words = vocabulary_from(HOSPITAL)
    assert words.fill("Create {an_opportunity}") == "Create {an_opportunity}"  # unknown placeholder left alone
    assert words.fill("{Opportunities} of {customers}") == "Improvement ideas of patients"
    assert words.fill("record {a_insight} about {a_opportunity}") == \
        "record a piece of patient feedback about an improvement idea"
    assert words.a_journey_owner == "a pathway lead"
    assert words.count(3, "insight") == "3 pieces of patient feedback"


def test_other_braces_and_escaping_are_respected():
    words = vocabulary_from({"opportunity": "R&D <idea>"})
    assert words.fill("{x} {opportunity} {nouns}", escape=lambda s: s.replace("<", "&lt;")) == \
        "{x} R&D &lt;idea> {nouns}"


def test_words_section_names_every_mistake_by_its_place():
    problems = validate_words({"oportunity": "idea", "solution": {"many": "changes"}, "insight": 3, "customer": " "})
    assert problems["words.oportunity"].startswith("unknown noun 'oportunity'")
    assert problems["words.solution.one"] == "is required: the singular"
    assert problems["words.insight"] == "must be the singular as text, or {one: …, many: …}"
    assert problems["words.customer"] == "must not be empty"
    assert validate_words(HOSPITAL) == {}
