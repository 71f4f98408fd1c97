"""`govern serve` runs gunicorn by default (the development server only with --dev); /readyz tells when to send traffic."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from govern.app import create_app
from govern.bootstrap import bootstrap
from govern.db import Database
from tests.conftest import make_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def start_serve(tmp_path: Path, *args: str, database_url: str | None = None,
                multiprocess_dir: Path | None = None) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    env = {**os.environ, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance"), "GOVERN_SECRET_KEY": "serve-test"}
    env.pop("GOVERN_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiprocess_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiprocess_dir)
    if database_url:
        env["GOVERN_DATABASE_URL"] = database_url
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "govern.cli", "serve", "--port", str(port), *args],
                                   cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return process, port, log


def wait_until_answering(process: subprocess.Popen, port: int, log: Path) -> None:
    for _ in range(600):
        assert process.poll() is None, f"govern serve exited:\n{log.read_text()}"
        try:
            get(f"http://127.0.0.1:{port}/healthz")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    pytest.fail(f"govern serve did not answer:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_serve_runs_gunicorn_workers_with_the_scheduler_and_no_development_server_warning(tmp_path):
    process, port, log = start_serve(tmp_path, "--workers", "2", "--threads", "2")
    try:
        wait_until_answering(process, port, log)
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        for _ in range(600):  # each worker reports its background services once it has booted
            if log.read_text().count("ritual scheduler: running") == 2:
                break
            time.sleep(0.1)
    finally:
        stop(process)
    output = log.read_text()
    assert "with gunicorn (2 worker(s) x 2 thread(s)" in output
    assert output.count("ritual scheduler: running") == 2
    assert "development server" not in output.lower()
    assert "Traceback" not in output


def test_serve_dev_uses_the_development_server_only_when_asked(tmp_path):
    process, port, log = start_serve(tmp_path, "--dev", "--no-scheduler")
    try:
        wait_until_answering(process, port, log)
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        stop(process)
    output = log.read_text()
    assert "with the development server" in output
    assert "gunicorn" not in output


def test_readyz_is_503_until_the_schema_is_at_the_newest_migration(tmp_path, db):
    behind = bootstrap(Database(f"sqlite:///{tmp_path / 'empty.db'}"))
    app = create_app(make_config(behind, tmp_path), db=behind)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "ok"
    assert "govern db upgrade" in response.json["checks"]["migrations"]
    behind.upgrade()
    assert app.test_client().get("/readyz").status_code == 200
    behind.dispose()


def test_readyz_is_ready_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_serve_writes_json_logs_when_asked(tmp_path):
    import json

    process, port, log = start_serve(tmp_path, "--workers", "1", "--threads", "2", "--log-format", "json",
                                     "--no-scheduler")
    try:
        wait_until_answering(process, port, log)
    finally:
        stop(process)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any("Booting worker" in r["message"] and r["logger"] == "gunicorn.error" for r in records), records
    assert all({"time", "level", "logger", "process", "message"} <= set(r) for r in records)
