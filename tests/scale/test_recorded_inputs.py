"""The recorded inputs per opportunity (one row of the built-in models' inputs) are kept current by every change of its
scoring inputs, so that ranking reads them instead of pivoting every ScoreInput row."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import RECORDED_INPUT_COLUMNS, RecordedInputs
from govern.scoring import BUILTIN_INPUTS, record_score_inputs
from govern.services.summary import recorded_inputs_query
from tests.conftest import actor


def _stored(session) -> dict:
    table = RecordedInputs.__table__
    return {row[0]: tuple(row[1:]) for row in session.execute(
        sa.select(table.c.opportunity_id, *[table.c[n] for n in RECORDED_INPUT_COLUMNS]))}


def _recomputed(session) -> dict:
    return {row[0]: tuple(row[1:]) for row in session.execute(recorded_inputs_query(None))}


def test_every_built_in_input_has_a_column():
    assert set(RECORDED_INPUT_COLUMNS) == set(BUILTIN_INPUTS)


def test_the_example_opportunities_inputs_are_recorded_in_one_row_each(example_db):
    with example_db.session_scope() as s:
        stored = _stored(s)
        assert len(stored) == 12 and stored == _recomputed(s)


def test_recording_changing_and_removing_inputs_keeps_the_row_current(example_db):
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        record_score_inputs(s, lotte, "OPP-1", {"reach": 25000, "effort": None})
        record_score_inputs(s, lotte, "OPP-2", {"ease": 4})  # ICE's input, recorded for another model
        assert _stored(s) == _recomputed(s)
        opp1 = s.execute(sa.text("SELECT id FROM opportunity WHERE number = 1")).scalar_one()
        row = dict(zip(RECORDED_INPUT_COLUMNS, _stored(s)[opp1]))
        assert row["reach"] == 25000 and row["effort"] is None
        recorded = [n for n, v in row.items() if v is not None]
        record_score_inputs(s, lotte, "OPP-1", {n: None for n in recorded})
        assert _stored(s).get(opp1, ()) in ((), (None,) * len(RECORDED_INPUT_COLUMNS))  # a custom input may be left
        assert _stored(s) == _recomputed(s)
        s.rollback()
        assert _stored(s) == _recomputed(s)  # rolled back with the inputs
