"""An import names its likely duplicates (new rows near-identical to an insight already there) in its dry run and its
summary, through the CLI, the API and the web preview, without refusing the rows; the work is capped and says so."""

from __future__ import annotations

import io

from govern.policy import Actor
from govern.services import intake
from tests.conftest import cli_invoker
from tests.evidence.conftest import EXPORT, imported

HEADER = "Ticket ID;Subject;Group;Created at;Ticket URL;Tags;Count;Segment;Score\n"


def _again(path, rows: list[tuple[str, str]]):
    """A second export: the given (ticket id, subject) rows in the Porting group."""
    lines = [f"{ticket};{subject};Porting;03.12.2026;https://desk.example/t/{ticket[3:]};porting;1;Switcher;-1\n"
             for ticket, subject in rows]
    path.write_text(HEADER + "".join(lines), encoding="utf-8-sig")
    return path


def _first_import(db, tmp_path):
    result = cli_invoker(db, tmp_path)("evidence", "import", str(EXPORT), "--source", "zendesk", "--skip-invalid")
    assert result.exit_code == 0, result.output


def _key(db, external_id: str) -> str:
    with db.session_scope() as s:
        return imported(s)[external_id].key


def test_the_cli_dry_run_and_import_list_likely_duplicates_and_import_them_anyway(example_db, tmp_path):
    _first_import(example_db, tmp_path)
    port = _key(example_db, "ZD-1001")
    second = _again(tmp_path / "again.csv", [("ZD-3001", "Number port failed, two days without service!"),
                                             ("ZD-3002", "The new SIM card was delivered to the neighbours")])
    run = cli_invoker(example_db, tmp_path)
    dry = run("evidence", "import", str(second), "--source", "zendesk", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "new 2, updated 0, unchanged 0, rejected 0" in dry.output
    assert "likely duplicates 1" in dry.output
    assert f"row 2 (ZD-3001) looks like {port}" in dry.output and "ZD-3002" not in dry.output
    done = run("evidence", "import", str(second), "--source", "zendesk")
    assert done.exit_code == 0 and "likely duplicates 1" in done.output
    with example_db.session_scope() as s:
        assert {"ZD-3001", "ZD-3002"} <= set(imported(s))  # not refused: a suggestion only


def test_a_reimport_and_an_import_without_lookalikes_name_none(example_db, tmp_path):
    _first_import(example_db, tmp_path)
    run = cli_invoker(example_db, tmp_path)
    again = run("evidence", "import", str(EXPORT), "--source", "zendesk", "--skip-invalid")
    assert again.exit_code == 0 and "likely duplicates" not in again.output  # nothing new, nothing compared
    fresh = _again(tmp_path / "fresh.csv", [("ZD-3003", "Router lights blink orange after the firmware update")])
    other = run("evidence", "import", str(fresh), "--source", "zendesk")
    assert other.exit_code == 0 and "likely duplicates" not in other.output


def test_merged_and_same_batch_insights_are_not_offered_as_the_original(example_db, tmp_path):
    with example_db.session_scope() as s:
        actor = Actor.system_actor("test")
        rows = [(1, {"Ticket ID": "ZD-4001", "Subject": "Porting code never arrived at all", "Group": "Porting",
                     "Created at": "01.12.2026", "Ticket URL": "", "Tags": "", "Count": "1", "Segment": "",
                     "Score": ""}),
                (2, {"Ticket ID": "ZD-4002", "Subject": "Porting code never arrived at all!", "Group": "Porting",
                     "Created at": "01.12.2026", "Ticket URL": "", "Tags": "", "Count": "1", "Segment": "",
                     "Score": ""})]
        result = intake.import_records(s, actor, "zendesk", rows, dry_run=True)
        # Two near-identical rows of one batch: neither existed before the import, so neither is a likely duplicate.
        assert result.new == 2 and result.duplicate_count == 0


def test_the_comparison_is_capped_and_says_so(example_db, tmp_path, monkeypatch):
    _first_import(example_db, tmp_path)
    monkeypatch.setattr(intake, "DUPLICATES_CHECKED", 1)
    second = _again(tmp_path / "again.csv", [("ZD-3001", "Number port failed, two days without service!"),
                                             ("ZD-3002", "Number port failed, two days without service!!")])
    out = cli_invoker(example_db, tmp_path)("evidence", "import", str(second), "--source", "zendesk", "--dry-run")
    assert out.exit_code == 0, out.output
    assert "likely duplicates 1 (among the first 1 new rows; the other 1 were not compared)" in out.output


def test_the_api_answers_the_likely_duplicates_with_the_counts(api, example_db, tmp_path):
    _first_import(example_db, tmp_path)
    port = _key(example_db, "ZD-1003")
    rows = [{"Ticket ID": "ZD-5001", "Subject": "Invoice shows a cancelled plan change.", "Group": "Billing",
             "Created at": "01.12.2026", "Ticket URL": "", "Tags": "", "Count": "1", "Segment": "", "Score": ""}]
    dry = api.post("/evidence/imports", as_="lotte", json={"source": "zendesk", "rows": rows, "dry_run": True})
    assert dry.status_code == 200, dry.get_json()
    found = dry.get_json()["likely_duplicates"]
    assert found["label"] == "suggestion" and found["count"] == 1 and found["checked"] == 1
    assert found["unchecked"] == 0
    assert [(p["row"], p["external_id"], p["duplicate_of"]) for p in found["pairs"]] == [(1, "ZD-5001", port)]
    done = api.post("/evidence/imports", as_="lotte", json={"source": "zendesk", "rows": rows}).get_json()
    assert done["written"] is True and done["likely_duplicates"]["count"] == 1


def test_the_web_preview_shows_the_likely_duplicates_escaped(web, example_db, tmp_path):
    _first_import(example_db, tmp_path)
    port = _key(example_db, "ZD-1001")
    data = (HEADER + "ZD-6001;Number port failed, two days without service <b>;Porting;03.12.2026;;porting;1;;\n"
            ).encode("utf-8-sig")
    lotte = web("lotte")
    page = lotte.post("/evidence/import", {"source": "zendesk", "file": (io.BytesIO(data), "again.csv")},
                      content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert 'data-testid="import-duplicates"' in html and "Likely duplicates 1" in html
    assert port in html and "service &lt;b&gt;" in html and "service <b>" not in html
    assert "Confirming writes 1 row (1 new, 0 updated)" in " ".join(html.split())


def test_the_web_preview_of_a_large_file_says_the_page_waits(web, example_db, monkeypatch):
    import govern.web.intake as web_intake

    monkeypatch.setattr(web_intake, "LARGE_IMPORT", 3)
    lotte = web("lotte")
    page = lotte.post("/evidence/import", {"source": "zendesk", "file": (io.BytesIO(EXPORT.read_bytes()), "e.csv")},
                      content_type="multipart/form-data")
    text = " ".join(page.get_data(as_text=True).split())
    assert "Confirming writes 5 rows (5 new, 0 updated, without the 1 rejected if you skip them)" in text
    assert "the page waits until it is done (no progress is shown here)" in text
