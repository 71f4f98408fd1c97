"""Plain words for cadences, and the Markdown the playbook writes: data always comes out as the same text."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings, strategies as st

from govern.playbook.markup import md_code, md_escape, to_html
from govern.playbook.words import cadence_words, guard_words
from govern.vocabulary import vocabulary_from


@pytest.mark.parametrize(("kind", "rule", "words"), [
    ("cron", "0 10 * * WED", "every Wednesday at 10:00"),
    ("cron", "30 9 * * 1,4", "every Monday and Thursday at 09:30"),
    ("cron", "0 8 * * 1-5", "every weekday at 08:00"),
    ("cron", "0 7 15 * *", "every month on the 15th at 07:00"),
    ("rrule", "FREQ=MONTHLY;BYDAY=1TU;BYHOUR=14;BYMINUTE=0", "every month on the first Tuesday at 14:00"),
    ("rrule", "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=16;BYMINUTE=0", "every month on the last Friday at 16:00"),
    ("rrule", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH;BYHOUR=9;BYMINUTE=30", "every 2 weeks on Thursday at 09:30"),
    ("rrule", "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1;BYHOUR=13;BYMINUTE=0", "every 3 months on the 1st at 13:00"),
    ("rrule", "DTSTART:20260107T100000\nRRULE:FREQ=WEEKLY;BYDAY=WE;BYHOUR=10", "every week on Wednesday at 10:00"),
])
def test_cadences_are_said_in_words_with_their_time_zone(kind, rule, words):
    assert cadence_words(kind, rule, "Europe/Amsterdam") == f"{words} (Europe/Amsterdam time)"


def test_an_unusual_cadence_is_shown_as_written():
    assert cadence_words("cron", "*/15 9-17 * * *", "UTC") == "cron rule */15 9-17 * * * (UTC time)"
    assert cadence_words("rrule", "FREQ=YEARLY;BYWEEKNO=20;BYHOUR=9", "UTC").startswith("rrule rule FREQ=YEARLY")


def test_guard_descriptions_get_their_parameters():
    assert guard_words("has_evidence", {"min": 3}) == "the opportunity is backed by at least 3 pieces of evidence"


def test_guard_descriptions_count_in_the_right_number():
    assert guard_words("has_solution", {"min": 1}) == "it has at least 1 solution"
    assert guard_words("has_solution", {"min": 2}) == "it has at least 2 solutions"
    assert guard_words("evidence_from_sources", {"min": 1}) == "the evidence comes from at least 1 distinct source"


def test_guard_descriptions_use_the_organisations_words():
    words = vocabulary_from({"opportunity": "improvement idea",
                             "evidence": {"one": "piece of patient feedback", "many": "pieces of patient feedback"}})
    assert guard_words("has_evidence", {"min": 1}, words) == \
        "the improvement idea is backed by at least 1 piece of patient feedback"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60))
def test_any_text_escaped_for_markdown_reads_back_as_the_same_text(text):
    collapsed = " ".join(text.split())
    rendered = to_html(md_escape(text))
    if collapsed:
        assert rendered == f"<p>{html.escape(collapsed, quote=False)}</p>\n"
    in_table = to_html(f"| a |\n|---|\n| {md_escape(text)} |\n")
    assert f"<td>{html.escape(collapsed, quote=False)}</td>" in in_table
    code = " ".join(text.replace("`", "").split())
    if code:
        assert f"<code>{html.escape(code, quote=False)}</code>" in to_html(f"x {md_code(code)}")
