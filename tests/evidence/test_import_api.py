"""POST /api/v1/evidence/imports: a file upload or JSON rows, mapped and upserted like the CLI; documented."""

from __future__ import annotations

import io

from tests.api.conftest import assert_error
from tests.evidence.conftest import EXPORT, imported


def upload(api, data: bytes, *, name="export.csv", as_="lotte", **form):
    return api.client.post("/api/v1/evidence/imports", data={"file": (io.BytesIO(data), name), **form},
                           headers={"Authorization": f"Bearer {api.token(as_)}"}, content_type="multipart/form-data")


def test_an_uploaded_export_is_refused_whole_with_every_rejected_row(api, example_db):
    error = assert_error(upload(api, EXPORT.read_bytes(), source="zendesk"), 422, "invalid_input")
    assert error["details"]["counts"] == {"new": 5, "updated": 0, "unchanged": 1, "rejected": 1}
    assert error["details"]["rejected"][0]["row"] == 8
    assert error["details"]["rejected"][0]["reason"].startswith("unparseable date '31.02.2026'")
    with example_db.session_scope() as s:
        assert imported(s) == {}


def test_an_upload_with_skip_invalid_imports_and_a_second_changes_nothing(api, example_db):
    first = upload(api, EXPORT.read_bytes(), source="zendesk", skip_invalid="true", preview="3")
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert (body["new"], body["updated"], body["unchanged"], len(body["rejected"])) == (5, 0, 1, 1)
    assert body["preview"][0]["steps"] == ["switching-providers/port-number"] and len(body["preview"]) == 3
    again = upload(api, EXPORT.read_bytes(), source="zendesk", skip_invalid="true").get_json()
    assert (again["new"], again["updated"], again["unchanged"], again["written"]) == (0, 0, 6, False)
    with example_db.session_scope() as s:
        assert len(imported(s)) == 5


def test_json_rows_import_with_a_dry_run_first(api, example_db):
    rows = [{"Ticket ID": "ZD-2001", "Subject": "Roaming charges in Norway look wrong", "Group": "Billing",
             "Created at": "01.12.2026", "Ticket URL": "https://desk.example/t/2001", "Tags": "", "Count": "7",
             "Segment": "Prepaid", "Score": "-1"}]
    dry = api.post("/evidence/imports", as_="lotte", json={"source": "zendesk", "rows": rows, "dry_run": True,
                                                           "preview": 1})
    assert dry.status_code == 200 and dry.get_json()["new"] == 1 and dry.get_json()["written"] is False
    assert dry.get_json()["preview"][0]["steps"] == ["understanding-my-bill/find-roaming-costs"]
    with example_db.session_scope() as s:
        assert imported(s) == {}
    done = api.post("/evidence/imports", as_="lotte", json={"source": "zendesk", "rows": rows}).get_json()
    assert done["new"] == 1 and done["written"] is True
    with example_db.session_scope() as s:
        ins = imported(s)["ZD-2001"]
        assert ins.volume == 7 and [p.key for p in ins.personas] == ["budget-watcher"]
        assert ins.tags == ["roaming"]


def test_bad_requests_are_named(api):
    assert "rows" in assert_error(api.post("/evidence/imports", as_="lotte", json={"source": "zendesk"}),
                                  422)["details"]
    assert_error(api.post("/evidence/imports", as_="lotte", json={"source": "nope", "rows": [{"a": 1}]}), 404,
                 "not_found")
    missing = assert_error(upload(api, b"Ticket ID;Subject\nZD-1;hello\n", source="zendesk"), 422)
    assert "missing columns 'Created at' (columns.observed_on)" in missing["message"]
    assert_error(upload(api, b"whatever", name="export.pdf", source="zendesk"), 422)
    assert_error(api.post("/evidence/imports", json={"source": "zendesk", "rows": [{}]}), 401)
    assert_error(api.post("/evidence/imports", as_="lotte", json=["not", "an", "object"]), 422)


def test_an_oversized_upload_is_refused_before_it_is_read(example_db, tmp_path):
    from govern.app import create_app
    from tests.api.conftest import ApiClient
    from tests.conftest import make_config

    small = ApiClient(create_app(make_config(example_db, tmp_path, max_import_bytes=1000), db=example_db), example_db)
    error = assert_error(upload(small, b"x" * 5000, source="zendesk"), 413)
    assert "evidence imports are limited to" in error["message"]


def test_the_import_endpoint_is_in_the_openapi_document(api):
    spec = api.client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/evidence/imports"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"200", "413", "422"} <= set(operation["responses"])
