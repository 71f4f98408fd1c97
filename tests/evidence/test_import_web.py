"""Evidence → Import in the web app: upload, a preview with the counts and the first mapped rows, confirm; in
Chromium through the real server as well as through the test client."""

from __future__ import annotations

import io
import re

import pytest

from tests.evidence.conftest import EXPORT, imported


def _upload(client, data: bytes, name: str = "export.csv", source: str = "zendesk"):
    return client.post("/evidence/import", {"source": source, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_the_preview_shows_counts_rows_and_rejects_and_writes_nothing(web, example_db):
    lotte = web("lotte")
    page = _upload(lotte, EXPORT.read_bytes())
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "new 5, updated 0, unchanged 1, rejected 1" in html
    assert "row 8: unparseable date &#39;31.02.2026&#39;" in html
    assert "switching-providers/port-number" in html and "none: waits in triage" in html
    with example_db.session_scope() as s:
        assert imported(s) == {}


def test_confirming_imports_once_and_a_refused_confirmation_writes_nothing(web, example_db, tmp_path):
    lotte = web("lotte")
    html = _upload(lotte, EXPORT.read_bytes()).get_data(as_text=True)
    upload = re.search(r'name="upload" value="([^"]+)"', html).group(1)
    form = {"upload": upload, "source": "zendesk", "filename": "export.csv"}
    refused = lotte.post("/evidence/import/confirm", form)
    assert refused.status_code == 422 and "1 row(s) rejected, nothing imported" in refused.get_data(as_text=True)
    with example_db.session_scope() as s:
        assert imported(s) == {}
    done = lotte.post("/evidence/import/confirm", {**form, "skip_invalid": "1"})
    assert done.status_code == 302
    assert "Imported from zendesk: new 5, updated 0, unchanged 1, rejected 1" in lotte.get("/evidence").get_data(
        as_text=True)
    with example_db.session_scope() as s:
        assert len(imported(s)) == 5
    again = lotte.post("/evidence/import/confirm", {**form, "skip_invalid": "1"})
    assert again.status_code == 422 and "no longer here" in again.get_data(as_text=True)


def test_bad_uploads_are_named_on_the_form(web):
    lotte = web("lotte")
    missing = _upload(lotte, b"Ticket ID;Subject\nZD-1;hi\n")
    assert missing.status_code == 422 and "missing columns &#39;Created at&#39;" in missing.get_data(as_text=True)
    wrong = _upload(lotte, b"%PDF-1.4", name="export.pdf")
    assert wrong.status_code == 422 and "cannot tell the format" in wrong.get_data(as_text=True)
    unknown = _upload(lotte, EXPORT.read_bytes(), source="qualtrics")
    assert unknown.status_code == 422 and "unknown evidence source" in unknown.get_data(as_text=True)
    forged = lotte.post("/evidence/import/confirm", {"upload": "../../etc/passwd", "source": "zendesk"})
    assert forged.status_code == 422 and "no longer here" in forged.get_data(as_text=True)


@pytest.mark.browser
def test_a_coordinator_imports_an_export_in_the_browser(page_as, example_db):
    page = page_as("lotte")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Evidence").click()
    page.get_by_role("link", name="Import").click()
    page.wait_for_url("**/evidence/import")
    page.get_by_label("Source").select_option("zendesk")
    page.get_by_label("Export file").set_input_files(str(EXPORT))
    page.get_by_role("button", name="Preview").click()
    assert page.get_by_test_id("import-counts").inner_text() == "new 5, updated 0, unchanged 1, rejected 1"
    assert "row 8: unparseable date" in page.get_by_test_id("import-rejected").inner_text()
    page.get_by_label("Import the valid rows and skip the 1 rejected").check()
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_url("**/evidence")
    assert "Imported from zendesk: new 5" in page.content()
    assert page.console_errors == []
    with example_db.session_scope() as s:
        assert sorted(imported(s)) == ["ZD-1001", "ZD-1002", "ZD-1003", "ZD-1004", "ZD-1005"]
