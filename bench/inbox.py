"""Benchmark: the approvals inbox and the header's "awaiting" badge at 10,000 opportunities and 200 pending requests
(SQLite), in process (issue 16).

The data set is bench/queries.py's (`load_example` then `add_bulk`). Signed in as the lead (who may approve every
pending request), each page is requested through the Flask test client `--repeat` times and its median time printed
with its statement count and its ratio to the evidence list (a paged list of 25 rows: the baseline, measured in the
same run). The header's badge is timed apart: `whoami()` inside a request context, as every signed-in page calls it.

    python bench/inbox.py [--opportunities 10000] [--repeat 7] [--profile]

--profile prints the top of a cProfile of one /approvals request (cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/transitions.py is named like the `transitions` library: take bench/ off the path so the library is found.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.queries import Browser, add_bulk, load_example  # noqa: E402
from govern.settings import Config  # noqa: E402
from govern.bootstrap import bootstrap  # noqa: E402
from govern.db import Database, StatementCounter  # noqa: E402

BASELINE = "/evidence"
PAGES = ("/evidence", "/approvals", "/approvals?awaiting=8", "/account/password")


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    from govern.app import create_app
    from flask import g

    from govern.http.request import db_session
    from govern.services.common import load_actor
    from govern.web.auth import whoami
    from govern.workflows.services import awaiting_count, pending_for

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'inbox.db'}"
        db = bootstrap(Database(url))
        db.upgrade()
        load_example(db)
        add_bulk(db, args.opportunities)
        app = create_app(Config(database_url=url, instance_path=Path(tmp) / "instance", secret_key="bench-secret",
                                testing=True, run_scheduler=False, run_worker=False), db=db)
        lead = Browser(app, "ana")
        rows = []
        for path in PAGES:
            assert lead.get(path) == 200, path  # warm: templates compiled, caches filled
            with StatementCounter(db.engine) as counter:
                lead.get(path)
            rows.append((path, timed(lambda path=path: lead.get(path), args.repeat), counter.count))

        def badge():
            with app.test_request_context("/"):
                g.web_actor = load_actor(db_session(), "ana")
                whoami()
        rows.append(("header badge: whoami()", timed(badge, args.repeat), None))
        with db.session_scope() as s:  # the badge's count both ways: every pending request as objects, plain rows
            ana = load_actor(s, "ana")
            assert len(pending_for(s, ana)) == awaiting_count(s, ana)
            rows.append(("len(pending_for(lead))", timed(lambda: (len(pending_for(s, ana)), s.expunge_all()),
                                                         args.repeat), None))
            rows.append(("awaiting_count(lead)", timed(lambda: (awaiting_count(s, ana), s.expunge_all()),
                                                       args.repeat), None))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            lead.get("/approvals")
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        db.dispose()
    base = dict((path, t) for path, t, _ in rows)[BASELINE]
    print(f"In-process time at {args.opportunities:,} opportunities, 200 pending requests (SQLite, median of "
          f"{args.repeat}), signed in as the lead:")
    print(f"  {'':28} {'ms':>8} {'x ' + BASELINE:>12} {'statements':>11}")
    for path, t, count in rows:
        print(f"  {path:28} {t * 1000:8.1f} {t / base:12.2f} {count if count is not None else '-':>11}")


if __name__ == "__main__":
    main()
