"""`govern opp tick/untick`, `govern evidence redact` and `govern evidence retention`: they delegate to the services,
answer refusals with a clear message and exit code, and the scheduler's leader runs retention once a day."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govern import audit
from govern.model import ChecklistTick, Insight
from govern.rituals.scheduler import ManualClock, RitualScheduler
from govern.services.common import put_setting
from tests.conftest import cli_invoker
from tests.vocabulary.test_checklist import LINK, with_safety_check


def test_a_check_is_ticked_and_taken_back_from_the_cli_by_its_tickers_only(example_db, tmp_path):
    with_safety_check(example_db)
    run = cli_invoker(example_db, tmp_path)
    refused = run("opp", "tick", "OPP-1", "safety_case", "--link", LINK, "--as", "lotte")
    assert refused.exit_code == 4 and "lotte may not tick “Clinical safety case attached”" in refused.output
    without_link = run("opp", "tick", "OPP-1", "safety_case", "--as", "okafor")
    assert without_link.exit_code == 2 and "Traceback" not in without_link.output
    unknown = run("opp", "tick", "OPP-1", "no_such_check", "--as", "okafor")
    assert unknown.exit_code in (2, 3) and "no_such_check" in unknown.output
    ticked = run("opp", "tick", "OPP-1", "safety_case", "--link", LINK, "--as", "okafor")
    assert ticked.exit_code == 0 and f"ticked safety_case for OPP-1 ({LINK})" in ticked.output
    twice = run("opp", "tick", "OPP-1", "safety_case", "--link", LINK, "--as", "okafor")
    assert twice.exit_code == 5 and "already ticked" in twice.output
    untick = run("opp", "untick", "OPP-1", "safety_case", "--reason", "wrong document", "--as", "okafor")
    assert untick.exit_code == 0, untick.output
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ChecklistTick)) == 0


def test_an_insight_is_redacted_from_the_cli_and_the_chain_still_verifies(example_db, tmp_path):
    run = cli_invoker(example_db, tmp_path)
    with example_db.session_scope() as s:
        key = s.scalars(sa.select(Insight.number).order_by(Insight.number)).first()
    key = f"INS-{key}"
    refused = run("evidence", "redact", key, "--reason", "asked", "--as", "lotte")
    assert refused.exit_code == 4, refused.output
    missing = run("evidence", "redact", "INS-99999", "--reason", "asked", "--as", "ana")
    assert missing.exit_code == 3 and "INS-99999" in missing.output
    no_reason = run("evidence", "redact", key, "--as", "ana")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    erased = run("evidence", "redact", key, "--reason", "the patient asked", "--as", "ana")
    assert erased.exit_code == 0 and f"erased the text and source of {key}" in erased.output
    again = run("evidence", "redact", key, "--reason", "again", "--as", "ana")
    assert again.exit_code == 5 and "already erased" in again.output
    verified = run("audit", "verify")
    assert verified.exit_code == 0 and "audit chain intact" in verified.output


def test_retention_from_the_cli_lists_then_erases_what_is_due(example_db, tmp_path):
    run = cli_invoker(example_db, tmp_path)
    unset = run("evidence", "retention", "--today", "2027-06-01")
    assert unset.exit_code == 0 and "no retention is set" in unset.output
    with example_db.session_scope() as s:
        put_setting(s, "evidence", {"retention_days": 30})
        s.commit()
    bad_day = run("evidence", "retention", "--today", "June")
    assert bad_day.exit_code == 2 and "--today" in bad_day.output
    dry = run("evidence", "retention", "--dry-run", "--today", "2027-06-01")
    assert dry.exit_code == 0 and "would erase" in dry.output and "(dry run, nothing written)" in dry.output
    with example_db.session_scope() as s:
        assert not any(i.redacted_at for i in s.scalars(sa.select(Insight)))
    done = run("evidence", "retention", "--today", "2027-06-01")
    assert done.exit_code == 0 and "erased" in done.output
    with example_db.session_scope() as s:
        assert {i.text for i in s.scalars(sa.select(Insight))} == {"[erased]"}
        assert audit.verify(s).ok


def test_the_scheduler_leader_applies_retention_once_a_day(example_db, tmp_path):
    with example_db.session_scope() as s:
        put_setting(s, "evidence", {"retention_days": 30})
        s.commit()
        observed = sorted({i.observed_on for i in s.scalars(sa.select(Insight)) if i.observed_on})
    newest = observed[-1]
    # The first day: only what was observed before the newest insight's day is due; the newest survives.
    clock = ManualClock(dt.datetime.combine(newest + dt.timedelta(days=30), dt.time(6, 0), tzinfo=dt.timezone.utc))
    leader = RitualScheduler(example_db, clock=clock, instance_path=tmp_path, name="leader", publish=False)
    try:
        first = leader.tick()
        assert first.leader and first.retained
        clock.advance(dt.timedelta(hours=1))
        assert leader.tick().retained == []  # once a day, not every round
        clock.advance(dt.timedelta(days=1))
        assert leader.tick().retained  # the next day the newest insight's time is up too
        with example_db.session_scope() as s:
            assert {i.text for i in s.scalars(sa.select(Insight))} == {"[erased]"}
            assert audit.verify(s).ok
    finally:
        leader.lock.release()
