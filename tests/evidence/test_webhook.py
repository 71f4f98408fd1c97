"""POST /intake/<source>: a signed webhook (HMAC-SHA256 of "<timestamp>.<raw body>"), verified before the body is
parsed, idempotent by external id; refused records are kept with the reason for the operations page."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from govern.model import IntakeRejection
from govern.services.intake import sign
from tests.api.conftest import assert_error
from tests.evidence.conftest import SECRET, imported

RECORD = {"Ticket ID": "ZD-3001", "Subject": "Port-in stuck since Monday, call me on 06-12345678",
          "Group": "Porting", "Created at": "03.12.2026", "Ticket URL": "https://desk.example/t/3001",
          "Tags": "porting", "Count": "2", "Segment": "Switcher", "Score": "-2"}


def post(client, body: bytes, *, secret=SECRET, timestamp=None, signature=None, source="zendesk"):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"X-Govern-Timestamp": ts, "X-Govern-Signature": signature or sign(secret, ts, body),
               "Content-Type": "application/json"}
    return client.post(f"/intake/{source}", data=body, headers=headers)


def rejections(db):
    with db.session_scope() as s:
        return [(r.source_key, r.reason, r.payload) for r in s.scalars(sa.select(IntakeRejection))]


def test_a_signed_record_becomes_evidence_once_however_often_it_is_sent(intake_app, example_db):
    client = intake_app.test_client()
    body = json.dumps(RECORD).encode()
    first = post(client, body)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["new"] == 1
    retry = post(client, body)
    assert retry.status_code == 200 and retry.get_json()["unchanged"] == 1
    with example_db.session_scope() as s:
        ins = imported(s)["ZD-3001"]
        assert ins.step_refs == ["switching-providers/port-number"] and "06-12345678" not in ins.text
        assert "[phone]" in ins.text


def test_a_list_of_records_with_a_bad_one_writes_the_good_and_keeps_the_bad(intake_app, example_db):
    client = intake_app.test_client()
    bad = {**RECORD, "Ticket ID": "ZD-3002", "Created at": "31.02.2026", "Subject": "Mail me at a@b.example"}
    answer = post(client, json.dumps([RECORD, bad]).encode())
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["new"] == 1 and body["rejected"] == [
        {"row": 2, "reason": "unparseable date '31.02.2026' (column 'Created at', expected %d.%m.%Y)"}]
    [(source, reason, payload)] = rejections(example_db)
    assert source == "zendesk" and reason.startswith("unparseable date")
    assert "ZD-3002" in payload and "a@b.example" not in payload  # kept scrubbed


def test_a_wrong_signature_is_refused_before_anything_is_read(intake_app, example_db):
    client = intake_app.test_client()
    body = json.dumps(RECORD).encode()
    error = assert_error(post(client, body, secret="guessed"), 401, "unauthenticated")
    assert error["message"].startswith("bad signature")
    assert_error(post(client, b"{not json", secret="guessed"), 401)
    no_headers = client.post("/intake/zendesk", data=body, headers={"Content-Type": "application/json"})
    assert_error(no_headers, 401)
    with example_db.session_scope() as s:
        assert imported(s) == {}
    assert rejections(example_db) == []


def test_a_stale_timestamp_is_refused_even_when_signed(intake_app, example_db):
    client = intake_app.test_client()
    error = assert_error(post(client, json.dumps(RECORD).encode(), timestamp=int(time.time()) - 600), 401)
    assert error["message"].startswith("stale timestamp")
    with example_db.session_scope() as s:
        assert imported(s) == {}


def test_an_unknown_source_is_404_and_a_source_without_its_secret_is_disabled(intake_app, example_app):
    assert_error(post(intake_app.test_client(), b"{}", source="qualtrics"), 404, "not_found")
    disabled = assert_error(post(example_app.test_client(), json.dumps(RECORD).encode()), 403)
    assert disabled["message"] == ("the webhook of source 'zendesk' is disabled: set GOVERN_ZENDESK_SECRET in the "
                                   "environment")


def test_a_signed_body_that_is_not_json_is_kept_and_refused(intake_app, example_db):
    answer = post(intake_app.test_client(), b"ticket=3001&subject=hello")
    assert_error(answer, 422, "invalid_input")
    [(source, reason, payload)] = rejections(example_db)
    assert reason.startswith("not JSON") and payload == "ticket=3001&subject=hello"


def test_the_webhook_needs_no_csrf_token_or_session(intake_app):
    # A browser-style form post without a token is refused elsewhere; the signed webhook only checks its signature.
    answer = post(intake_app.test_client(), json.dumps(RECORD).encode())
    assert answer.status_code == 200


def test_refused_records_are_listed_on_the_operations_page_escaped(intake_app, example_db):
    from tests.ops.test_operations_page import sign_in

    client = intake_app.test_client()
    bad = {**RECORD, "Ticket ID": "ZD-3009", "Subject": "<script>alert(1)</script>", "Count": "many"}
    post(client, json.dumps(bad).encode())
    sign_in(client, example_db, "ana")
    page = client.get("/operations").get_data(as_text=True)
    assert 'data-testid="intake-rejections"' in page
    assert "volume must be a whole number of at least 1, got &#39;many&#39;" in page
    assert "<strong>zendesk</strong>: 1" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_a_signed_body_nested_past_the_parser_is_refused_not_a_traceback(intake_app, example_db):
    answer = post(intake_app.test_client(), b"[" * 100_000 + b"]" * 100_000)
    assert_error(answer, 422, "invalid_input")
    with example_db.session_scope() as s:
        assert imported(s) == {}
