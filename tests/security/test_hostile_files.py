"""Issue 30, part 3: a hostile or mistaken govern.yaml (alias bombs in free-form values, 1,000-deep nesting, 50 MB,
binary junk, a Python tag) is refused with a clear message naming the file and line — `govern apply` and `govern
schema` exit 2, `POST /api/v1/config/apply` answers 4xx — never a 500 or a process running until killed, and a
served process keeps answering /healthz while it refuses one. (Time and memory per refusal: bench/hostile_files.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from govern.services.common import load_actor
from govern.services.people import create_token
from tests.ops.test_serving import get, start_serve, stop, wait_until_answering

from .conftest import assert_error
from .hostile import EXAMPLE, cases, deep_flow_sequence, laughs

CASES = cases()
HUGE = "50 MB file"


def write_case(tmp_path: Path, name: str) -> Path:
    content = CASES[name][0]
    path = tmp_path / "govern.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def govern(db, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`govern …` as an operator runs it: its own process, against the test's database."""
    env = {**os.environ, "GOVERN_DATABASE_URL": db.url, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance")}
    return subprocess.run([sys.executable, "-m", "govern.cli", *args], env=env, capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.mark.parametrize("name", list(CASES))
def test_govern_apply_refuses_a_hostile_file_with_exit_2_naming_the_file_and_line(example_db, tmp_path, name):
    path = write_case(tmp_path, name)
    result = govern(example_db, tmp_path, "apply", str(path))
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    _, phrase, line = CASES[name]
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr and phrase in result.stderr, result.stderr[-2000:]
    if line:
        assert line in result.stderr
    assert len(result.stderr) < 2000, "the refusal quotes at most a short excerpt"
    assert "lol" not in result.stderr


def test_govern_schema_refuses_every_hostile_file_and_says_which(example_db, tmp_path):
    paths = []
    for i, name in enumerate(CASES):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        paths.append(write_case(folder, name))
    good = tmp_path / "good.yaml"
    good.write_text(EXAMPLE)
    result = govern(example_db, tmp_path, "schema", *map(str, paths), str(good))
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{len(CASES)} of {len(CASES) + 1} file(s) not valid" in result.stderr
    for path, (_, phrase, _) in zip(paths, CASES.values()):
        assert f"{path}: " in result.stderr and phrase in result.stderr
    assert f"{good}: valid" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.fixture
def api(example_app, example_db):
    from tests.api.conftest import ApiClient

    return ApiClient(example_app, example_db)


@pytest.mark.parametrize("name", [n for n in CASES if n != HUGE])
def test_config_apply_over_http_refuses_a_hostile_document_as_invalid_input(api, name):
    content, phrase, _ = CASES[name]
    text = content.decode("latin-1") if isinstance(content, bytes) else content
    answer = api.post("/config/apply", as_="ana", json={"yaml": text, "dry_run": False})
    error = assert_error(answer, 422, "invalid_input")
    body = answer.get_data(as_text=True)
    assert len(body) < 2000 and "lol" not in body
    if not isinstance(content, bytes):  # junk sent as JSON text: refused for its NUL characters, before parsing
        assert phrase in error["message"]
        assert any(k.startswith("line ") for k in error["details"]), error


def test_config_apply_over_http_refuses_a_50_mb_body_without_reading_it(api):
    answer = api.post("/config/apply", as_="ana", json={"yaml": CASES[HUGE][0], "dry_run": True})
    assert_error(answer, 413, "too_large")


def test_a_1000_deep_json_body_is_a_400_not_a_recursion_error(api):
    body = '{"yaml": ' + "[" * 1000 + "]" * 1000 + ', "dry_run": true}'
    answer = api.post("/config/apply", as_="ana", data=body, headers={"Content-Type": "application/json"})
    error = assert_error(answer, 400, "bad_request")
    assert "nested deeper" in error["message"]
    answer = api.post("/opportunities", as_="ana", data="[" * 100_000 + "]" * 100_000,
                      headers={"Content-Type": "application/json"})
    assert_error(answer, 400, "bad_request")


def test_govern_import_refuses_deep_or_binary_json_with_exit_2(example_db, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"tables": ' + "[" * 1000 + "]" * 1000 + "}")
    junk = tmp_path / "junk.json"
    junk.write_bytes(CASES["binary junk"][0])
    for path, phrase in ((deep, "nested deeper than 64 levels"), (junk, "not a text file")):
        result = govern(example_db, tmp_path, "import", str(path))
        assert result.returncode == 2, result.stderr[-2000:]
        assert str(path) in result.stderr and phrase in result.stderr and "Traceback" not in result.stderr


def test_kpi_csv_import_refuses_binary_junk_naming_the_line(api, example_db, tmp_path):
    answer = api.post("/kpis/measurements/import", as_="ana", data=CASES["binary junk"][0],
                      headers={"Content-Type": "text/csv"})
    error = assert_error(answer, 422, "invalid_input")
    assert "not a text file" in error["message"] and error["message"].startswith("the file: line ")


def test_anchors_aliases_and_merge_keys_within_the_bounds_still_work(api):
    text = EXAMPLE.replace("attendees: {roles: [lead, manager, coordinator]}",
                           "attendees: &council {roles: [lead, manager, coordinator]}", 1)
    text = text.replace("attendees: {roles: [lead, manager, coordinator, supporter]}",
                        "attendees: {<<: *council, people: [priya]}", 1)
    text = text.replace("attendees: {roles: [coordinator, supporter]}", "attendees: &team {roles: [coordinator, "
                        "supporter]}", 1).replace("attendees: {roles: [coordinator, supporter]}", "attendees: *team")
    assert text.count("*council") == 1 and text.count("*team") == 1
    answer = api.post("/config/apply", as_="ana", json={"yaml": text, "dry_run": True})
    assert answer.status_code == 200, answer.get_json()


def test_a_served_process_keeps_answering_healthz_while_it_refuses_bombs(example_db, tmp_path):
    with example_db.session_scope() as s:
        secret = create_token(s, load_actor(s, "ana"), "hostile").secret
    process, port, log = start_serve(tmp_path, "--workers", "1", "--threads", "4", database_url=example_db.url)
    base = f"http://127.0.0.1:{port}"
    bombs = [CASES["alias bomb in jira.extra_fields"][0], CASES["alias bomb in evidence.kinds"][0],
             deep_flow_sequence(), EXAMPLE + "\nx:\n" + laughs(levels=12)]
    refusals: list[int] = []
    health: list[int] = []
    done = threading.Event()

    def post_bombs():
        import json

        try:
            for _ in range(3):
                for bomb in bombs:
                    request = urllib.request.Request(
                        f"{base}/api/v1/config/apply", method="POST",
                        data=json.dumps({"yaml": bomb, "dry_run": False}).encode(),
                        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
                    try:
                        urllib.request.urlopen(request, timeout=30)
                        refusals.append(200)
                    except urllib.error.HTTPError as exc:
                        refusals.append(exc.code)
        finally:
            done.set()

    def poll_health():
        while not done.is_set() or not health:
            health.append(get(f"{base}/healthz")[0])

    try:
        wait_until_answering(process, port, log)
        threads = [threading.Thread(target=post_bombs), threading.Thread(target=poll_health)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert refusals == [422] * (3 * len(bombs)), refusals
        assert health and set(health) == {200}, health
        assert get(f"{base}/healthz")[0] == 200
    finally:
        stop(process)
    assert "Traceback" not in log.read_text()
    with example_db.session_scope() as s:  # nothing of the bombs was applied
        from govern.services.common import get_setting

        assert "extra_fields" not in (get_setting(s, "jira", {}) or {})


@pytest.mark.parametrize("name", ["alias bomb in jira.extra_fields", "python tag", "binary junk"])
def test_ritual_minutes_from_a_hostile_file_are_refused_with_exit_2(example_db, tmp_path, name):
    from tests.conftest import cli_invoker

    path = write_case(tmp_path, name)
    result = cli_invoker(example_db, tmp_path)("rituals", "hold", "weekly-council-review", "--minutes", str(path),
                                               "--as", "ana")
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and CASES[name][1] in result.output and len(result.output) < 2000
