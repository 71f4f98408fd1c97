"""`govern export` then `govern import` into an emptied database keeps imported and merged evidence as it was: merged
duplicates whose survivor has a higher id (re-inserted in id order), their source references and content hashes, so
a re-import of the same help desk file still writes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import EvidenceSummary, Insight
from govern.services.evidence import merge_evidence
from tests.conftest import clear_tables, cli_invoker
from tests.evidence.conftest import EXPORT, imported


def _state(db) -> dict:
    with db.session_scope() as s:
        insights = {i.number: (i.merged_into_id, i.source_key, i.external_id, i.content_hash, i.volume,
                               sorted(i.step_refs)) for i in s.scalars(sa.select(Insight))}
        summary = sorted(tuple(r) for r in s.execute(sa.select(EvidenceSummary.__table__)))
    return {"insights": insights, "summary": summary}


def test_merged_and_imported_evidence_survives_an_export_and_import(example_db, tmp_path, operator):
    run = cli_invoker(example_db, tmp_path)
    first = run("evidence", "import", str(EXPORT), "--source", "zendesk", "--skip-invalid")
    assert first.exit_code == 0, first.output
    with example_db.session_scope() as s:
        got = imported(s)
        oldest = s.scalar(sa.select(Insight).order_by(Insight.id).limit(1))
        # Survivors with higher ids than their duplicates, and a survivor merged on (its duplicates re-pointed).
        merge_evidence(s, operator, got["ZD-1001"].key, got["ZD-1005"].key)
        merge_evidence(s, operator, oldest.key, got["ZD-1003"].key)
        merge_evidence(s, operator, got["ZD-1003"].key, got["ZD-1004"].key)
        s.commit()
    before = _state(example_db)
    merged = {n: v[0] for n, v in before["insights"].items() if v[0] is not None}
    assert len(merged) == 3 and all(into > min(merged) for into in merged.values())
    again_before = run("evidence", "import", str(EXPORT), "--source", "zendesk", "--skip-invalid")
    assert "new 0, updated 0, unchanged 6, rejected 1" in again_before.output

    dump = tmp_path / "export.json"
    exported = run("export", "--out", str(dump))
    assert exported.exit_code == 0, exported.output
    clear_tables(example_db)
    loaded = run("import", str(dump))
    assert loaded.exit_code == 0, loaded.output
    assert _state(example_db) == before

    again_after = run("evidence", "import", str(EXPORT), "--source", "zendesk", "--skip-invalid")
    assert again_after.exit_code == 0, again_after.output
    assert "new 0, updated 0, unchanged 6, rejected 1" in again_after.output
    assert again_after.output == again_before.output
    second = tmp_path / "again.json"
    assert run("export", "--out", str(second)).exit_code == 0
    assert second.read_text() == dump.read_text()  # nothing written by the re-import, nothing lost by the trip


def test_a_records_identity_does_not_depend_on_the_order_of_the_stored_column_mapping(example_db):
    from govern.services import intake
    from govern.services.intake_mapping import SourceMapping
    from govern.services.intake_readers import read_file

    table = read_file(EXPORT, max_bytes=1 << 30)
    with example_db.session_scope() as s:
        source = intake.get_source(s, "zendesk")
        reference = intake.load_reference(s)
    shuffled = {**source, "columns": dict(reversed(list(source["columns"].items())))}
    identities = []
    for mapping in (SourceMapping(source, reference), SourceMapping(shuffled, reference)):
        mapping.check_header(table.header)
        identities.append([mapping.identity(r) for _row, r in read_file(EXPORT, max_bytes=1 << 30).rows])
    assert identities[0] == identities[1]
