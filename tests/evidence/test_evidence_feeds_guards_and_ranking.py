"""Imported evidence feeds the lifecycle's guards and the ranking through the real producers: an import (CLI) backs an
opportunity enough to pass `prioritise`'s guards; a re-import raising a row's volume raises its evidence strength and
its rank (bounded: 1 + floor(log10 volume), at most 4 insights' worth); a merged duplicate counts nowhere."""

from __future__ import annotations

import pytest

from govern.errors import GuardsUnmet
from govern.model import Insight
from govern.scoring import rank_portfolio, record_score_inputs, score_and_rank
from govern.services.common import get_opportunity
from govern.services.evidence import record_evidence
from govern.services.opportunities import create_opportunity, link_evidence
from govern.workflows.services import available_transitions, request_transition
from tests.conftest import actor, cli_invoker
from tests.evidence.conftest import imported


def _import(db, tmp_path, export_file):
    result = cli_invoker(db, tmp_path)("evidence", "import", str(export_file), "--source", "zendesk",
                                       "--skip-invalid")
    assert result.exit_code == 0, result.output
    return result


def _prioritise(session, key):
    lotte = actor(session, "lotte")
    return next(t for t in available_transitions(session, lotte, key) if t["trigger"] == "prioritise")


@pytest.fixture
def fresh_opportunity(example_db):
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        opp = create_opportunity(s, lotte, title="Make porting painless", journeys=["switching-providers"],
                                 owner="lotte")
        record_score_inputs(s, lotte, opp.key, {"reach": 500, "impact": 1, "confidence": 50, "effort": 2})
        return opp.key


def test_imported_evidence_lets_an_opportunity_pass_its_guard(example_db, tmp_path, export_file, fresh_opportunity):
    with example_db.session_scope() as s:
        assert _prioritise(s, fresh_opportunity)["ok"] is False
        with pytest.raises(GuardsUnmet):
            request_transition(s, actor(s, "lotte"), fresh_opportunity, "prioritise")
    _import(example_db, tmp_path, export_file)
    with example_db.session_scope() as s:
        got = imported(s)
        # Porting (switching-providers) and a bill (paying-my-bill): two insights from two journeys.
        link_evidence(s, actor(s, "lotte"), fresh_opportunity, [got["ZD-1001"].key, got["ZD-1003"].key])
        assert _prioritise(s, fresh_opportunity)["ok"] is True
        result = request_transition(s, actor(s, "lotte"), fresh_opportunity, "prioritise")
        assert result.request is not None  # guards met: it now waits for the lead's approval


def test_a_merged_duplicate_no_longer_counts_for_the_guard(example_db, tmp_path, export_file, fresh_opportunity):
    _import(example_db, tmp_path, export_file)
    with example_db.session_scope() as s:
        got = imported(s)
        link_evidence(s, actor(s, "lotte"), fresh_opportunity, [got["ZD-1001"].key, got["ZD-1003"].key])
        assert _prioritise(s, fresh_opportunity)["ok"] is True
        duplicate = s.get(Insight, got["ZD-1003"].id)
        duplicate.merged_into_id = got["ZD-1001"].id
        s.commit()
        assert _prioritise(s, fresh_opportunity)["ok"] is False


def _place(session, key):
    row = next(r for r in rank_portfolio(session) if r["key"] == key)
    return row["rank"], row["evidence_strength"], row["score"]


def test_a_reimport_raising_the_volume_raises_strength_and_rank(example_db, tmp_path, export_file,
                                                                fresh_opportunity):
    text = export_file.read_text(encoding="utf-8-sig").replace(";porting;12;Switcher;", ";porting;1;Switcher;")
    export_file.write_text(text, encoding="utf-8-sig")
    _import(example_db, tmp_path, export_file)
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        got = imported(s)
        assert got["ZD-1002"].volume == 1
        link_evidence(s, lotte, fresh_opportunity, [got["ZD-1002"].key])
        # A control: the same inputs and the same kind of evidence (one insight on the same step, from the same
        # source on the same day) standing for 12 tickets: it weighs 2, so the control ranks ahead.
        same = record_evidence(s, lotte, text="Porting code did not arrive", source="Help desk ticket export",
                               kind="ticket", observed_on=got["ZD-1002"].observed_on,
                               steps=["switching-providers/port-number"])
        same.volume = 12
        control = create_opportunity(s, lotte, title="Porting codes by e-mail too", journeys=["switching-providers"],
                                     owner="lotte", insights=[same.key])
        record_score_inputs(s, lotte, control.key, {"reach": 500, "impact": 1, "confidence": 50, "effort": 2})
        control_key = control.key
        rank_before, strength_before, score_before = _place(s, fresh_opportunity)
        control_rank, control_strength, control_score = _place(s, control_key)
        assert control_strength == pytest.approx(strength_before + 35 / 8, abs=0.11) and control_rank < rank_before
    # The help desk clusters 420 tickets into that row: re-imported, the insight's volume changes, nothing duplicates.
    export_file.write_text(text.replace(";porting;1;Switcher;", ";porting;420;Switcher;"), encoding="utf-8-sig")
    assert "new 0, updated 1," in _import(example_db, tmp_path, export_file).output
    with example_db.session_scope() as s:
        rank_after, strength_after, score_after = _place(s, fresh_opportunity)
        # One insight of volume 1 weighs 1 in the volume part (35 × 1/8); of volume 420, 3 (35 × 3/8).
        assert strength_after == pytest.approx(strength_before + 35 * 2 / 8, abs=0.11)
        assert score_after > score_before > 0 and rank_after < _place(s, control_key)[0]
        # The one-opportunity path (its page) agrees with the portfolio.
        _score, rank, _total = score_and_rank(s, get_opportunity(s, fresh_opportunity))
        assert rank == rank_after
