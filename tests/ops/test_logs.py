"""Quiet, useful logs: a served instance writes no routine INFO line from a library, our own lines still come out, and a
failure the code steps around is logged with what it was about."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import sys
import time

import sqlalchemy as sa

from govern.bootstrap import bootstrap
from govern.db import Database
from govern.logs import LIBRARY_LOGGERS, dict_config
from govern.model import Opportunity, SchedulerInstance
from tests.ops.test_serving import get, start_serve, stop, wait_until_answering

LINE = re.compile(r"^\S+ \S+ \[\d+\] (?P<level>[A-Z]+) (?P<logger>[\w.]+): ")


def library_info_lines(output: str) -> list[str]:
    """The lines logged at INFO (or below) by a library's logger, from text-format log output."""
    found = []
    for line in output.splitlines():
        match = LINE.match(line)
        if match and match["level"] in ("INFO", "DEBUG") and match["logger"].split(".")[0] in LIBRARY_LOGGERS:
            found.append(line)
    return found


def test_a_served_example_writes_no_info_line_from_a_library_while_the_scheduler_ticks(tmp_path, monkeypatch):
    env = {**os.environ, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance"), "GOVERN_SECRET_KEY": "serve-test"}
    env.pop("GOVERN_DATABASE_URL", None)
    init = subprocess.run([sys.executable, "-m", "govern.cli", "init", "--example"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    monkeypatch.setenv("GOVERN_SCHEDULER_TICK", "1")  # a round every second instead of every 30
    process, port, log = start_serve(tmp_path, "--workers", "1", "--threads", "2")
    db = bootstrap(Database(f"sqlite:///{tmp_path / 'instance' / 'govern.db'}"))
    try:
        wait_until_answering(process, port, log)
        started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        ticked, until = False, time.monotonic() + 20  # served for 20 s, asked for pages meanwhile
        while time.monotonic() < until:
            for path in ("/healthz", "/readyz", "/login", "/api/v1/journeys"):
                get(f"http://127.0.0.1:{port}{path}")
            with db.session_scope() as s:
                last = s.scalar(sa.select(sa.func.max(SchedulerInstance.last_tick_at)))
            ticked = ticked or (last is not None and last > started + dt.timedelta(seconds=5))
            time.sleep(0.2)
    finally:
        stop(process)
        db.dispose()
    output = log.read_text()
    assert ticked, f"the scheduler did not keep ticking:\n{output}"
    ours = [m for m in map(LINE.match, output.splitlines()) if m and m["logger"].startswith("govern")]
    assert any(m["level"] == "INFO" for m in ours), output  # our own INFO lines still come out, in this format
    assert library_info_lines(output) == []
    assert "Traceback" not in output


def test_the_library_level_is_configurable_and_the_development_access_log_can_be_asked_for():
    quiet = dict_config("text", "DEBUG")["loggers"]
    assert all(quiet[name]["level"] == "WARNING" for name in LIBRARY_LOGGERS)  # our DEBUG does not open the libraries
    chatty = dict_config("json", "INFO", "INFO")["loggers"]
    assert chatty["apscheduler"]["level"] == "INFO"
    assert dict_config("text", "INFO", access_log=True)["loggers"]["werkzeug"]["level"] == "INFO"


def test_a_bad_log_setting_is_refused_naming_it():
    for args, named in ((("xml", "INFO"), "GOVERN_LOG_FORMAT"), (("text", "LOUD"), "GOVERN_LOG_LEVEL"),
                        (("text", "INFO", "quiet"), "GOVERN_LIBRARY_LOG_LEVEL")):
        try:
            dict_config(*args)
        except ValueError as exc:
            assert named in str(exc)
        else:
            raise AssertionError(f"{args} accepted")


def test_a_lifecycle_that_can_no_longer_be_loaded_is_logged_when_the_backlog_steps_around_it(example_db, caplog):
    from govern.workflows.services import backlog_states_by_lifecycle

    with example_db.session_scope() as s:
        s.execute(sa.update(Opportunity).where(Opportunity.id == s.scalar(sa.select(sa.func.min(Opportunity.id))))
                  .values(lifecycle="retired-lifecycle"))
        s.commit()
        with caplog.at_level(logging.WARNING, logger="govern.workflows.services"):
            states = backlog_states_by_lifecycle(s)
    assert "retired-lifecycle" not in states
    [record] = [r for r in caplog.records if "retired-lifecycle" in r.getMessage()]
    assert record.levelno == logging.WARNING and record.exc_info is not None
