"""Finding 9: `POST /config/apply` with `lifecycle: {file: PATH}` read the server's files (an existence oracle that
echoed key names). Over HTTP the document is inline only; file references are for `govern apply FILE`, relative to
that file."""

from __future__ import annotations

from pathlib import Path

import yaml

from govern.orgfile.load import examples_dir
from tests.conftest import cli_invoker

from .conftest import assert_error

EXAMPLE = (examples_dir() / "telecom" / "govern.yaml").read_text()
LIFECYCLE_FILE = Path(__file__).resolve().parents[2] / "govern" / "workflows" / "definitions" / "default.yaml"


def _with_lifecycle_file(path: str) -> str:
    doc = yaml.safe_load(EXAMPLE)
    doc["lifecycle"] = {"file": path}
    return yaml.safe_dump(doc, sort_keys=False)


def test_config_apply_over_http_reads_no_server_file(api):
    answers = {}
    for path in (str(LIFECYCLE_FILE), "/etc/passwd", "/no/such/file.yaml", "../../etc/hostname"):
        answer = api.post("/config/apply", as_="ana", json={"yaml": _with_lifecycle_file(path), "dry_run": True})
        error = assert_error(answer, 422)
        assert list(error["details"]) == ["lifecycle.file"] and "inline" in error["details"]["lifecycle.file"]
        answers[path] = answer.get_data(as_text=True).replace(path, "PATH")
    # An existing file, a missing one and a system file answer alike: no existence oracle, no content echoed.
    assert len(set(answers.values())) == 1, answers


def test_govern_apply_resolves_a_file_reference_next_to_the_applied_file(example_db, tmp_path, monkeypatch):
    folder = tmp_path / "org"
    folder.mkdir()
    (folder / "lifecycle.yaml").write_text(LIFECYCLE_FILE.read_text())
    (folder / "govern.yaml").write_text(_with_lifecycle_file("lifecycle.yaml"))
    monkeypatch.chdir(tmp_path)  # not the file's folder: the reference must not depend on where govern runs
    result = cli_invoker(example_db, tmp_path)("apply", str(folder / "govern.yaml"), "--dry-run")
    assert result.exit_code == 0, result.output
