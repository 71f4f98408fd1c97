"""`govern evidence import FILE --source KEY`: all-or-nothing by default, --skip-invalid writes the valid rows and the
rejects, a re-import writes nothing, a changed row updates its insight (audited), never duplicates."""

from __future__ import annotations

import csv
import datetime as dt
import json

import openpyxl
import sqlalchemy as sa

from govern.model import AuditEvent, Insight
from tests.conftest import cli_invoker
from tests.evidence.conftest import audit_count, imported


def run(db, tmp_path, *args, **env):
    return cli_invoker(db, tmp_path, **env)("evidence", "import", *[str(a) for a in args])


def test_a_bad_row_refuses_the_whole_import_naming_the_row(example_db, tmp_path, export_file):
    result = run(example_db, tmp_path, export_file, "--source", "zendesk")
    assert result.exit_code == 2, result.output
    assert "new 5, updated 0, unchanged 1, rejected 1" in result.output
    assert "row 8: unparseable date '31.02.2026' (column 'Created at', expected %d.%m.%Y)" in result.output
    assert "nothing imported" in result.output
    with example_db.session_scope() as s:
        assert imported(s) == {}


def test_skip_invalid_imports_the_valid_rows_mapped_and_scrubbed(example_db, tmp_path, export_file):
    rejects = tmp_path / "rejects.csv"
    result = run(example_db, tmp_path, export_file, "--source", "zendesk", "--skip-invalid", "--rejects", rejects)
    assert result.exit_code == 0, result.output
    assert "new 5, updated 0, unchanged 1, rejected 1" in result.output
    assert "row 8: unparseable date" in result.output
    with rejects.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["row"], r["Ticket ID"]) for r in rows] == [("8", "ZD-1006")]
    with example_db.session_scope() as s:
        got = imported(s)
        assert sorted(got) == ["ZD-1001", "ZD-1002", "ZD-1003", "ZD-1004", "ZD-1005"]
        port = got["ZD-1001"]
        assert port.step_refs == ["switching-providers/port-number"]
        assert port.observed_on == dt.date(2026, 11, 2) and port.volume == 37 and port.sentiment == -2.0
        assert port.url == "https://desk.example/t/1001" and port.kind == "ticket"
        assert port.source == "Help desk ticket export"
        assert port.tags == ["porting", "outage"] and [p.key for p in port.personas] == ["switcher"]
        assert "\n" in got["ZD-1002"].text
        assert got["ZD-1003"].step_refs == ["paying-my-bill/understand-charges"] and got["ZD-1003"].sentiment == -1.5
        assert [p.key for p in got["ZD-1003"].personas] == ["busy-family"]
        private = got["ZD-1004"].text
        assert "jan.jansen@example.nl" not in private and "1234 5678" not in private
        assert "[email]" in private and "[phone]" in private
        assert got["ZD-1005"].steps == []  # no rule matched: it waits in triage
        # Nothing unscrubbed anywhere: not in the audit log either.
        payloads = " ".join(json.dumps(e.after) for e in s.scalars(sa.select(AuditEvent)))
        assert "jan.jansen@example.nl" not in payloads


def test_reimporting_the_same_file_changes_nothing(example_db, tmp_path, export_file):
    run(example_db, tmp_path, export_file, "--source", "zendesk", "--skip-invalid")
    with example_db.session_scope() as s:
        before = {k: (i.id, i.content_hash, i.updated_at) for k, i in imported(s).items()}
        events = audit_count(s)
    again = run(example_db, tmp_path, export_file, "--source", "zendesk", "--skip-invalid")
    assert again.exit_code == 0, again.output
    assert "new 0, updated 0, unchanged 6, rejected 1" in again.output
    with example_db.session_scope() as s:
        assert {k: (i.id, i.content_hash, i.updated_at) for k, i in imported(s).items()} == before
        assert audit_count(s) == events


def test_a_changed_row_updates_its_insight_and_the_audit_says_what_changed(example_db, tmp_path, export_file):
    run(example_db, tmp_path, export_file, "--source", "zendesk", "--skip-invalid")
    text = export_file.read_text(encoding="utf-8-sig").replace(";Billing;05.11.2026;https://desk.example/t/1003;billing;58;",
                                                               ";Billing;05.11.2026;https://desk.example/t/1003;billing;420;")
    export_file.write_text(text, encoding="utf-8-sig")
    result = run(example_db, tmp_path, export_file, "--source", "zendesk", "--skip-invalid")
    assert "new 0, updated 1, unchanged 5, rejected 1" in result.output, result.output
    with example_db.session_scope() as s:
        got = imported(s)
        assert len(got) == 5 and got["ZD-1003"].volume == 420 and got["ZD-1003"].updated_at is not None
        event = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "evidence.updated")).one()
        assert event.entity_id == got["ZD-1003"].key
        assert event.before == {"volume": 58} and event.after == {"volume": 420}


def test_a_dry_run_counts_and_writes_nothing(example_db, tmp_path, export_file):
    result = run(example_db, tmp_path, export_file, "--source", "zendesk", "--skip-invalid", "--dry-run")
    assert result.exit_code == 0 and "new 5, updated 0, unchanged 1, rejected 1" in result.output
    assert "dry run: nothing written" in result.output
    with example_db.session_scope() as s:
        assert imported(s) == {}


def test_a_missing_column_is_named_and_nothing_is_read(example_db, tmp_path, export_file):
    text = export_file.read_text(encoding="utf-8-sig").replace("Created at", "Opened")
    export_file.write_text(text, encoding="utf-8-sig")
    result = run(example_db, tmp_path, export_file, "--source", "zendesk")
    assert result.exit_code == 2
    assert "missing column 'Created at' (columns.observed_on)" in result.output
    assert "Traceback" not in result.output


def test_an_oversized_file_is_refused_with_the_limit(example_db, tmp_path, export_file):
    result = run(example_db, tmp_path, export_file, "--source", "zendesk", GOVERN_MAX_IMPORT_BYTES="500")
    assert result.exit_code == 2
    assert "evidence imports are limited to" in result.output and "GOVERN_MAX_IMPORT_BYTES" in result.output


def test_an_unknown_source_is_named(example_db, tmp_path, export_file):
    result = run(example_db, tmp_path, export_file, "--source", "qualtrics")
    assert result.exit_code == 3
    assert "unknown evidence source 'qualtrics' (sources: zendesk)" in result.output


def _records(path):
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def test_the_same_records_import_from_xlsx_json_and_ndjson(example_db, tmp_path, export_file):
    records = [r for r in _records(export_file) if r["Ticket ID"] != "ZD-1006"]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(records[0]))
    for r in records:
        cells = list(r.values())
        cells[3] = dt.datetime.strptime(r["Created at"], "%d.%m.%Y")  # Excel holds real dates
        sheet.append(cells)
    xlsx = tmp_path / "export.xlsx"
    book.save(xlsx)
    first = run(example_db, tmp_path, xlsx, "--source", "zendesk")
    assert first.exit_code == 0 and "new 5, updated 0, unchanged 1, rejected 0" in first.output, first.output
    as_json = tmp_path / "export.json"
    as_json.write_text(json.dumps(records))
    assert "new 0, updated 0, unchanged 6, rejected 0" in run(example_db, tmp_path, as_json, "--source",
                                                              "zendesk").output
    as_ndjson = tmp_path / "export.ndjson"
    as_ndjson.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert "new 0, updated 0, unchanged 6, rejected 0" in run(example_db, tmp_path, as_ndjson, "--source",
                                                              "zendesk").output
    with example_db.session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Insight).where(Insight.source_key == "zendesk")) == 5
