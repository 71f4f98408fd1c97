"""Benchmark: `govern export` of a 10,000-opportunity PostgreSQL database under a write load (issue 30): consistent in
every run, and its time against `pg_dump` of the same database under the same load.

A writer thread records evidence on a step and parks/resumes opportunities (one commit each, through the services)
for the whole run. Each round exports (export_data, then the JSON written to a file, as `govern export --out` does)
and checks the file with the checks `govern import` makes before writing (every reference points at a row in the
file, the audit chain verifies, every opportunity is in its last transition's state); the first file is also imported
into a fresh database and `audit.verify`'d. Then `pg_dump --format=custom` of the same database runs the same number
of times under the same load. Printed: consistent runs, median seconds of each, and the ratio.

    python bench/backup_pg.py [--opportunities 10000] [--rounds 10] [--database-url postgresql+psycopg://...]

The database named in --database-url (default govern_load_backup on 127.0.0.1) and a `_restore` one next to it are
dropped and created again.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# bench/transitions.py is named like the `transitions` library: take bench/ off the path so the library is found.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import sqlalchemy as sa  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/govern_load_backup"


def pg_dump_binary() -> str:
    for candidate in ["/usr/bin/pg_dump", *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)]:
        if os.path.exists(candidate):
            return candidate
    found = shutil.which("pg_dump")
    if not found:
        raise SystemExit("pg_dump not found (/usr/bin/pg_dump or /usr/lib/postgresql/*/bin/pg_dump)")
    return found


class Writer(threading.Thread):
    """Evidence recorded and opportunities parked/resumed, one commit each, until stopped."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        from govern.db import Database

        self.db = Database(url)
        self.stop = threading.Event()
        self.writes, self.errors = 0, []

    def run(self) -> None:
        from govern.errors import Conflict
        from govern.model import Opportunity, Step
        from govern.policy import Actor
        from govern.services.evidence import record_evidence
        from govern.workflows.services import request_transition

        actor = Actor.system_actor("bench-writer")
        with self.db.session_scope() as s:
            step = s.execute(sa.select(Step).limit(1)).scalar_one()
            ref = f"{step.journey.key}/{step.key}"
            opps = list(s.scalars(sa.select(Opportunity.id).where(Opportunity.state == "research").limit(50)))
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                with self.db.session_scope() as s:
                    record_evidence(s, actor, text=f"said during the backup {n}", source="bench", kind="quote",
                                    steps=[ref])
                with self.db.session_scope() as s:
                    oid = opps[n % len(opps)]
                    state = s.get(Opportunity, oid).state
                    try:
                        request_transition(s, actor, oid, "park" if state == "research" else "resume",
                                           reason="backup bench")
                    except Conflict:
                        pass
                self.writes += 2
        except Exception as exc:  # noqa: BLE001 - reported at the end
            self.errors.append(repr(exc))
        finally:
            self.db.dispose()


@contextlib.contextmanager
def _per_table_reads():
    """The export as it read before issue 30: PostgreSQL's default READ COMMITTED, a fresh snapshot per statement."""
    from sqlalchemy.orm import Session

    from govern.services import portability

    @contextlib.contextmanager
    def plain(bind):
        with Session(bind) as session:
            yield session
            session.rollback()

    original = portability.read_snapshot
    portability.read_snapshot = plain
    try:
        yield
    finally:
        portability.read_snapshot = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--control", type=int, default=0, metavar="N",
                        help="also N exports read as before issue 30 (each table in its own READ COMMITTED read)")
    parser.add_argument("--database-url", default=os.environ.get("GOVERN_BACKUP_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    from bench.load import recreate_database
    from bench.queries import add_bulk, load_example
    from govern import audit
    from govern.db import Database
    from govern.errors import InvalidInput
    from govern.model import Base
    from govern.policy import Actor
    from govern.services.portability import check_export, dump, export_data, import_data

    url = args.database_url
    restore_url = sa.engine.make_url(url)
    restore_url = restore_url.set(database=f"{restore_url.database}_restore").render_as_string(hide_password=False)
    recreate_database(url)
    db = Database(url)
    db.upgrade()
    began = time.perf_counter()
    load_example(db)
    add_bulk(db, args.opportunities)
    with db.engine.connect() as conn:
        rows = sum(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                   for t in Base.metadata.sorted_tables)
    print(f"prepared {args.opportunities:,} opportunities ({rows:,} rows) in {time.perf_counter() - began:.0f} s")

    operator = Actor.system_actor("bench")
    pg_dump = pg_dump_binary()
    libpq = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    writer = Writer(url)
    writer.start()
    export_times, dump_times, consistent, problems = [], [], 0, []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i in range(args.rounds):
                writes = writer.writes
                start = time.perf_counter()
                with db.session_scope() as s:
                    data = export_data(s, operator)
                with open(Path(tmp) / f"export-{i}.json", "w", encoding="utf-8") as out:
                    dump(data, out)
                export_times.append(time.perf_counter() - start)
                during = writer.writes - writes
                try:
                    check_export(data)
                    consistent += 1
                except InvalidInput as exc:
                    problems.append(exc.message[:300])
                if i == 0:
                    recreate_database(restore_url)
                    target = Database(restore_url)
                    target.upgrade()
                    with target.session_scope() as s:
                        import_data(s, operator, data)
                    with target.session_scope() as s:
                        verified = audit.verify(s)
                    target.dispose()
                    print(f"run 1 imported into a fresh database: audit verify "
                          f"{'ok' if verified.ok else 'BROKEN'} ({verified.checked} events)")
                print(f"export {i + 1}: {export_times[-1]:.2f} s, {during} writes committed meanwhile")
            for i in range(args.rounds):
                start = time.perf_counter()
                subprocess.run([pg_dump, "--format=custom", f"--file={Path(tmp) / f'dump-{i}.dump'}", libpq],
                               check=True)
                dump_times.append(time.perf_counter() - start)
            control_bad = 0
            for i in range(args.control):
                with _per_table_reads(), db.session_scope() as s:
                    data = export_data(s, operator)
                try:
                    check_export(data)
                except InvalidInput as exc:
                    control_bad += 1
                    print(f"control export {i + 1} (per-table reads): inconsistent — {exc.message[:160]}")
        finally:
            writer.stop.set()
            writer.join(timeout=60)
    if writer.errors:
        print("writer errors:", writer.errors)
    export_median, dump_median = statistics.median(export_times), statistics.median(dump_times)
    print(f"consistent exports: {consistent} of {args.rounds}" + (f" — {problems}" if problems else ""))
    if args.control:
        print(f"control (reads as before issue 30): {control_bad} of {args.control} exports inconsistent")
    print(f"writes committed during the run: {writer.writes}")
    print(f"govern export median {export_median:.2f} s (min {min(export_times):.2f}, max {max(export_times):.2f})")
    print(f"pg_dump -Fc    median {dump_median:.2f} s (min {min(dump_times):.2f}, max {max(dump_times):.2f})")
    print(f"ratio export / pg_dump: {export_median / dump_median:.1f}x")
    db.dispose()


if __name__ == "__main__":
    main()
