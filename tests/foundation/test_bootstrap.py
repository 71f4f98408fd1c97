"""The machinery in sight: the session hooks are registered by govern.bootstrap on one Database, never by importing a
module, and a process that bootstraps its database keeps the evidence summary current with nothing else imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

FRESH_WRITER = textwrap.dedent('''
    import datetime as dt, sys
    import sqlalchemy as sa
    from govern.db import Database
    from govern.model import EvidenceSummary, Insight, Opportunity

    def write(db):
        db.upgrade()
        with db.session_scope() as s:
            insight = Insight(number=1, text="switchers lose track", source="call centre", kind="pain",
                              observed_on=dt.date(2026, 11, 1))
            s.add(Opportunity(number=1, title="Keep switchers informed", state="research", insights=[insight]))
            s.commit()
            return s.scalar(sa.select(EvidenceSummary.insight_count))

    if sys.argv[1] == "bootstrapped":
        from govern.bootstrap import bootstrap
        print(write(bootstrap(Database(sys.argv[2]))))
    else:
        print(write(Database(sys.argv[2])))
    print(sorted(m for m in sys.modules if m.startswith("govern.") and m.split(".")[1] in ("app", "api", "web", "cli")))
''')


@pytest.mark.parametrize("how, summary", [("bootstrapped", "1"), ("bare", "None")])
def test_a_fresh_process_that_bootstraps_its_database_keeps_the_evidence_summary(tmp_path, how, summary):
    run = subprocess.run([sys.executable, "-c", FRESH_WRITER, how, f"sqlite:///{tmp_path / 'fresh.db'}"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    counted, entry_points = run.stdout.splitlines()
    assert counted == summary  # kept by the hook bootstrap registers, and by nothing else
    assert entry_points == "[]"  # no entry point was needed for it


NOTHING_AT_IMPORT = textwrap.dedent('''
    import importlib
    import sqlalchemy as sa
    from sqlalchemy.orm import Session
    import govern
    for module in ("govern.app", "govern.cli.root", "govern.services.summary", "govern.queries.reference",
                   "govern.workflows.services", "govern.rituals.scheduler", "govern.integrations.worker"):
        importlib.import_module(module)
    from govern.bootstrap import SESSION_HOOKS, bootstrap
    from govern.db import Database

    def ours(target):
        return [(event, fn.__module__) for event in sorted({event for _o, event, _l in SESSION_HOOKS})
                for fn in getattr(target.dispatch, event) if fn.__module__.startswith("govern")]

    print(ours(Session()))
    db = bootstrap(bootstrap(Database("sqlite://")))
    print(len(ours(db.sessionmaker())) == len(SESSION_HOOKS), ours(Session()), ours(Database("sqlite://").sessionmaker()))
''')


def test_importing_the_whole_application_registers_no_session_hook_and_bootstrap_registers_on_one_database_once():
    run = subprocess.run([sys.executable, "-c", NOTHING_AT_IMPORT], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["[]", "True [] []"]


def test_a_session_of_a_database_never_bootstrapped_is_refused_a_reference_snapshot(tmp_path):
    from govern.db import Database
    from govern.queries.reference import reference

    bare = Database(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        with bare.session_scope() as s, pytest.raises(RuntimeError, match="bootstrap"):
            reference(s)
    finally:
        bare.dispose()
