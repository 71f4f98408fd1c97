"""Benchmark: importing a help desk export of 100,000 rows as evidence (issue 23).

For each database (SQLite in a temporary file; PostgreSQL too when it answers at --pg-url):

- first import: `govern.services.intake.import_records` over the CSV as `govern evidence import` reads it
  (govern.services.intake_readers: sniffing, BOM, quoted newlines), mapping (step rules, scrubbing, dates, personas,
  tags) and upserting, committed — rows per second;
- bare executemany: the same rows read with the csv module and inserted with plain executemany statements into the same
  tables (insight, insight_step, insight_persona), no mapping, no checks, committed, into a fresh copy of the same
  database — the floor any import pays; printed as the ratio bare time / import time (goal ≥ 0.3);
- re-import of the unchanged file: the INSERT/UPDATE/DELETE statements it ran (goal 0) and its time against the first
  import's (goal ≥ 5× faster);
- statements per imported row (every statement the import ran, executemany counted once);
- peak memory (tracemalloc, Python allocations from the start of the import) for 10,000 and 100,000 rows, SQLite
  (goal: within 1.5×).

    python bench/intake.py [--rows 100000] [--memory-rows 10000] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/govern_bench_intake] [--no-pg]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # bench/transitions.py shadows a library
sys.path.insert(0, str(_HERE.parent))

import sqlalchemy as sa  # noqa: E402

from govern.db import Database  # noqa: E402
from govern.model import Insight, Journey, Persona, Step, insight_persona, insight_step, utcnow  # noqa: E402
from govern.orgfile.load import apply_text  # noqa: E402
from govern.policy import Actor  # noqa: E402
from govern.services import intake  # noqa: E402
from govern.services.intake_readers import read_file  # noqa: E402

EXAMPLE = _HERE.parent / "govern" / "examples" / "telecom" / "govern.yaml"
HEADER = ["Ticket ID", "Subject", "Group", "Created at", "Ticket URL", "Tags", "Count", "Segment", "Score"]
GROUPS = ["Porting", "Billing", "Activation", "Installation", "General"]
SUBJECTS = [
    "Number port failed, customer without service for {n} hours",
    "Porting code never arrived by SMS\nTried the code from the letter instead",
    "Invoice shows a charge for a cancelled plan change ({n} EUR)",
    "Roaming costs on the bill are not itemised per country",
    "eSIM QR code expired before it could be scanned (attempt {n})",
    "Please call me back on +31 6 {n:04d} 5678 or write to customer{n}@example.nl",
    "Engineer arrived on time and explained the router, very happy",
    "Customer asks whether they can keep their old voicemail",
]
SEGMENTS = ["Private", "Prepaid", "Switcher", "App", ""]


def write_export(path: Path, rows: int, seed: int = 23) -> None:
    """A help desk export as Excel writes it: UTF-8 with a BOM, ';' between cells, quoted newlines, dd.mm.yyyy."""
    rnd = random.Random(seed)
    start = dt.date(2026, 1, 1)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        for i in range(rows):
            day = start + dt.timedelta(days=rnd.randrange(330))
            writer.writerow([f"ZD-{100000 + i}", rnd.choice(SUBJECTS).format(n=rnd.randrange(10000)),
                             rnd.choice(GROUPS), day.strftime("%d.%m.%Y"), f"https://desk.example/t/{100000 + i}",
                             rnd.choice(["porting", "billing, complaint", "activation, app", "", "praise"]),
                             str(rnd.choice([1, 1, 1, 2, 5, 12, 37, 420])), rnd.choice(SEGMENTS),
                             rnd.choice(["-2", "-1,5", "-1", "0", "1", ""])])


def fresh_database(url: str | None, folder: Path, name: str) -> Database:
    if url is None:
        db = Database(f"sqlite:///{folder / (name + '.db')}")
    else:
        admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        database = f"{url.rsplit('/', 1)[1]}_{name}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        admin.dispose()
        db = Database(url.rsplit("/", 1)[0] + "/" + database)
    db.upgrade()
    with db.session_scope() as session:
        apply_text(session, Actor.system_actor("bench"), EXAMPLE.read_text())
    return db


class StatementCounter:
    def __init__(self, engine):
        self.engine, self.total, self.writes = engine, 0, 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.total += 1
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.writes += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self)


def run_import(db: Database, export: Path, *, trace: bool = False):
    actor = Actor.system_actor("bench")
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    with db.session_scope() as session, StatementCounter(db.engine) as counter:
        table = read_file(export, max_bytes=1 << 40)
        result = intake.import_records(session, actor, "zendesk", table.rows, header=table.header, skip_invalid=True)
    elapsed = time.perf_counter() - started
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, elapsed, counter, peak


def bare_executemany(db: Database, export: Path) -> float:
    """The same rows read with the csv module and inserted with plain executemany (insight, insight_step,
    insight_persona), in chunks of 1000 as the import writes: no mapping, no checks, no audit, one commit."""
    with db.session_scope() as session:
        steps = {f"{jk}/{sk}": sid for sid, jk, sk in session.execute(
            sa.select(Step.id, Journey.key, Step.key).join(Journey, Journey.id == Step.journey_id))}
        personas = {key: pid for pid, key in session.execute(sa.select(Persona.id, Persona.key))}
    port, charges = steps["switching-providers/port-number"], steps["paying-my-bill/understand-charges"]
    persona = personas["busy-family"]
    table = Insight.__table__
    started = time.perf_counter()
    with db.engine.begin() as conn:
        next_id = (conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1
        number = (conn.execute(sa.select(sa.func.max(table.c.number))).scalar() or 0) + 1
        with export.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=";")
            next(reader)
            now = utcnow()
            rows, links, people = [], [], []
            for cells in reader:
                day, month, year = cells[3].split(".")
                rows.append({"id": next_id, "number": number, "text": cells[1], "source": "Help desk ticket export",
                             "kind": "ticket", "observed_on": dt.date(int(year), int(month), int(day)),
                             "created_at": now, "source_key": "zendesk", "external_id": cells[0], "url": cells[4],
                             "volume": int(cells[6]), "tags": [], "sentiment_suggested": False})
                links.append({"insight_id": next_id, "step_id": port if cells[2] == "Porting" else charges})
                if cells[7]:
                    people.append({"insight_id": next_id, "persona_id": persona})
                next_id += 1
                number += 1
                if len(rows) >= intake.CHUNK:
                    _flush(conn, table, rows, links, people)
            _flush(conn, table, rows, links, people)
    return time.perf_counter() - started


def _flush(conn, table, rows, links, people) -> None:
    if rows:
        conn.execute(table.insert(), rows)
    if links:
        conn.execute(insight_step.insert(), links)
    if people:
        conn.execute(insight_persona.insert(), people)
    rows.clear()
    links.clear()
    people.clear()


def count_rows(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Insight).where(Insight.source_key == "zendesk"))


def bench_database(label: str, url: str | None, folder: Path, export: Path, rows: int) -> None:
    db = fresh_database(url, folder, "import")
    result, first, counter, _ = run_import(db, export)
    assert result.new == rows, result.summary_line()
    print(f"[{label}] first import of {rows:,} rows: {first:.2f} s, {rows / first:,.0f} rows/s "
          f"({result.summary_line()}); {counter.total} statements ({counter.total / rows:.3f} per row)")
    again, second, counter2, _ = run_import(db, export)
    assert again.new == 0 and again.updated == 0 and again.unchanged == rows, again.summary_line()
    assert count_rows(db) == rows
    print(f"[{label}] re-import of the unchanged file: {second:.2f} s, {counter2.writes} INSERT/UPDATE/DELETE "
          f"statements ({again.summary_line()}); {first / second:.1f}x faster than the first (goal >= 5x)")
    db.dispose()
    bare_db = fresh_database(url, folder, "bare")
    bare = bare_executemany(bare_db, export)
    assert count_rows(bare_db) == rows
    bare_db.dispose()
    print(f"[{label}] bare executemany of the same rows into the same tables: {bare:.2f} s, {rows / bare:,.0f} rows/s;"
          f" ratio bare/import {bare / first:.2f} (goal >= 0.3)")


def bench_memory(folder: Path, small: int, large: int) -> None:
    peaks = {}
    for n in (small, large):
        export = folder / f"export-{n}.csv"
        write_export(export, n)
        db = fresh_database(None, folder, f"memory{n}")
        result, _elapsed, _counter, peak = run_import(db, export, trace=True)
        assert result.new == n
        peaks[n] = peak
        db.dispose()
        print(f"[sqlite] peak traced memory importing {n:,} rows: {peak / 1024 / 1024:.1f} MB")
    print(f"[sqlite] peak memory {large:,} vs {small:,} rows: {peaks[large] / peaks[small]:.2f}x (goal <= 1.5x)")


def pg_reachable(url: str) -> bool:
    try:
        engine = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres")
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        print(f"[postgresql] not reachable ({type(exc).__name__}): skipped")
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-rows", type=int, default=10_000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/govern_bench_intake")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export = folder / "export.csv"
        write_export(export, args.rows)
        print(f"export: {args.rows:,} rows, {export.stat().st_size / 1024 / 1024:.1f} MB (semicolons, BOM, quoted "
              "newlines, dd.mm.yyyy)")
        bench_database("sqlite", None, folder, export, args.rows)
        if not args.no_pg and pg_reachable(args.pg_url):
            bench_database("postgresql", args.pg_url, folder, export, args.rows)
        if not args.no_memory:
            bench_memory(folder, args.memory_rows, args.rows)


if __name__ == "__main__":
    main()
