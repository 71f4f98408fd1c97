"""Export and import of everything as JSON: lossless, so export → import into an empty database → export is identical."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.db import READ_SNAPSHOT
from govern.errors import InvalidInput, RefusedChange
from govern.model import AuditEvent, Base
from govern.policy import Actor
from govern.services.summary import refresh_evidence_summary, refresh_recorded_inputs

FORMAT = "govern-export"
FORMAT_VERSION = 1


# Process bookkeeping, not data: which scheduler processes run where (rebuilt by the schedulers themselves).
# Sign-in throttles and replay receipts are short-lived protection state: not part of an export either.
OPERATIONAL_TABLES = frozenset({"scheduler_instance", "signin_throttle", "request_receipt"})
# Where credentials live: columns blanked, or tables left out whole (None), by an export without credentials.
CREDENTIALS: dict[str, tuple[str, ...] | None] = {
    "person": ("password_hash",),
    "api_token": None,
    "calendar_token": None,
}


def _tables() -> list[sa.Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in OPERATIONAL_TABLES]


def _encode(value: Any, column: sa.Column) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _decode(value: Any, column: sa.Column) -> Any:
    if value is None:
        return None
    python_type = None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        pass
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if python_type is dt.date:
        return dt.date.fromisoformat(value)
    if python_type is float and isinstance(value, int):
        return float(value)
    return value


@contextmanager
def read_snapshot(bind: sa.Engine | sa.Connection) -> Iterator[Session]:
    """A session of its own whose every read sees one state of the database, as a backup must: PostgreSQL's
    REPEATABLE READ (one snapshot for the whole transaction; READ ONLY, DEFERRABLE), SQLite one deferred read
    transaction (WAL: readers see the state as of their first read and never block writers). Nothing is written."""
    engine = bind.engine if isinstance(bind, sa.Connection) else bind
    with Session(engine) as snapshot:
        if engine.dialect.name == "postgresql":
            snapshot.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY, DEFERRABLE"))
        else:
            snapshot.connection(execution_options={READ_SNAPSHOT: True})
        try:
            yield snapshot
        finally:
            snapshot.rollback()


def export_data(session: Session, actor: Actor, *, credentials: bool = True) -> dict:
    """Every row of every table, ordered by primary key, as plain JSON values, all read in one snapshot (a state the
    database was in, even while people work): on a connection of its own, so the caller's session is left as it is
    and sees nothing it has not committed.

    The export holds password hashes and API and calendar token hashes (enough to attack them offline): with
    `credentials=False` they are left out, and people set their passwords again after an import.
    """
    actor.require("config.apply")
    tables = {}
    with read_snapshot(session.get_bind()) as snapshot:
        for table in _tables():
            blank = () if credentials else CREDENTIALS.get(table.name, ())
            if blank is None:
                tables[table.name] = []
                continue
            order = list(table.primary_key.columns)
            rows = snapshot.execute(sa.select(table).order_by(*order)).mappings()
            tables[table.name] = [{c.name: None if c.name in blank else _encode(row[c.name], c)
                                   for c in table.columns} for row in rows]
    out = {"format": FORMAT, "version": FORMAT_VERSION, "tables": tables}
    if not credentials:
        out["without_credentials"] = True
    return out


def dump(data: dict, out: IO[str]) -> None:
    json.dump(data, out, sort_keys=True, indent=1, ensure_ascii=False)
    out.write("\n")


def import_data(session: Session, actor: Actor, data: dict) -> dict[str, int]:
    """Load an export into an empty database (refused if it holds anything), keeping ids, hashes and timestamps."""
    actor.require("config.apply")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInput("not a govern export (missing \"format\": \"govern-export\")", {"format": "expected"})
    if data.get("version") != FORMAT_VERSION:
        raise InvalidInput(f"unsupported export version {data.get('version')!r}", {"version": "unsupported"})
    tables_in = data.get("tables") or {}
    known = {t.name: t for t in _tables()}
    unknown = sorted(set(tables_in) - set(known))
    if unknown:
        raise InvalidInput(f"unknown table(s) in export: {', '.join(unknown)}", {"tables": unknown})
    for table in known.values():
        if session.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
            raise RefusedChange(f"the database is not empty (table '{table.name}' has rows); import needs an "
                                "empty database so that nothing is merged by accident")
    decoded = _decoded(tables_in, known)
    _check_consistent(decoded)
    counts: dict[str, int] = {}
    deferred: list[tuple[sa.Table, dict, dict]] = []
    order = [t.name for t in _tables()]
    for table in _tables():
        rows = decoded.get(table.name) or []
        # Foreign keys to a table not yet loaded (or to the same table) are filled in after everything is in.
        late = {fk.parent.name for fk in table.foreign_keys
                if fk.column.table.name == table.name or order.index(fk.column.table.name) > order.index(table.name)}
        batch = []
        for values in rows:
            values = dict(values)
            postponed = {k: values[k] for k in late if values.get(k) is not None}
            for k in postponed:
                values[k] = None
            batch.append(values)
            if postponed:
                # Re-state columns with an onupdate default so the second write keeps the exported values.
                postponed.update({c.name: values[c.name] for c in table.columns if c.onupdate is not None})
                deferred.append((table, {c.name: values[c.name] for c in table.primary_key.columns}, postponed))
        if batch:
            session.execute(table.insert(), batch)
        counts[table.name] = len(batch)
    for table, key, values in deferred:
        session.execute(table.update().where(*[table.c[k] == v for k, v in key.items()]).values(**values))
    _reset_sequences(session)
    # Exports made before the summary existed carry none: recompute it from the imported links.
    refresh_evidence_summary(session, everything=True)
    refresh_recorded_inputs(session, everything=True)
    session.commit()
    return counts


def check_export(data: dict) -> None:
    """The checks `import_data` makes before writing, on their own (InvalidInput naming what is inconsistent)."""
    known = {t.name: t for t in _tables()}
    _check_consistent(_decoded(data.get("tables") or {}, known))


def _decoded(tables_in: dict, known: dict[str, sa.Table]) -> dict[str, list[dict]]:
    """The file's rows as column values, every table's rows a list of objects (else refused, naming the table)."""
    out = {}
    for name, table in known.items():
        rows = tables_in.get(name) or []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InvalidInput(f"table '{name}' in the export is not a list of rows", {f"tables.{name}": "not rows"})
        try:
            out[name] = [{c.name: _decode(row.get(c.name), c) for c in table.columns} for row in rows]
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"table '{name}' in the export holds a value of the wrong type ({exc})",
                               {f"tables.{name}": "wrong type"}) from None
    return out


def _check_consistent(tables: dict[str, list[dict]]) -> None:
    """Refuse a file that is not a state a database could be in, before anything is written: a reference to a row
    not in the file, an audit chain that `govern audit verify` would not pass, or an opportunity whose state is not
    the one its last transition moved it to."""
    problems: list[str] = []
    keys: dict[tuple[str, str], set] = {}
    for table in _tables():
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
            parent = fk.column.table.name
            if parent not in tables:
                continue
            present = keys.setdefault((parent, fk.column.name),
                                      {row[fk.column.name] for row in tables[parent]})
            for row in tables[table.name]:
                value = row.get(fk.parent.name)
                if value is not None and value not in present:
                    ident = ", ".join(f"{c.name}={row.get(c.name)!r}" for c in table.primary_key.columns)
                    problems.append(f"{table.name} ({ident}): {fk.parent.name}={value!r} points at no row of "
                                    f"{parent}")
                    if len(problems) >= 20:
                        break
    events = sorted(tables.get("audit_event", []), key=lambda row: row["id"] or 0)
    verified = audit.verify_events(AuditEvent(**row) for row in events)
    if not verified.ok:
        problems.append(f"the audit chain is broken at event {verified.first_broken_id}: {verified.problem} "
                        f"({verified.checked} events before it verified)")
    last: dict[int, dict] = {}
    for move in tables.get("opportunity_transition", []):
        if move["opportunity_id"] not in last or move["id"] > last[move["opportunity_id"]]["id"]:
            last[move["opportunity_id"]] = move
    for opp in tables.get("opportunity", []):
        move = last.get(opp["id"])
        if move is not None and move["to_state"] != opp["state"]:
            problems.append(f"opportunity {opp['id']} (number {opp['number']}) is in state {opp['state']!r} but its "
                            f"last transition (id {move['id']}) moved it to {move['to_state']!r}")
    if problems:
        shown = problems[:10]
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise InvalidInput("the export is not consistent, nothing was imported: " + "; ".join(shown) + more,
                           {"problems": problems[:50]})


def _reset_sequences(session: Session) -> None:
    """PostgreSQL sequences must continue after the imported ids."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in _tables():
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, sa.Integer) and pk[0].autoincrement in (True, "auto"):
            session.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"))
