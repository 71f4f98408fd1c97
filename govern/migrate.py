"""Schema upgrades and downgrades an operator can trust, and online backups of the embedded SQLite database.

`upgrade` takes a backup of a SQLite file first (the sqlite3 online backup API, into the instance folder), then runs
the revisions one by one, each in its own transaction (SQLite and PostgreSQL DDL are transactional). SQLite batch
migrations copy tables, so foreign keys are off on the migration's connection (see govern/migrations/env.py) and
`PRAGMA foreign_key_check` runs before each revision commits: a dangling row refuses that revision, which is rolled
back. A failure leaves the database at the last complete revision and raises `UpgradeFailed`, whose message says which
revision failed, why, where the backup is and how to restore it; it never suggests a command that destroys data.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from govern.db import Database, alembic_config
from govern.errors import GovernError


class UpgradeFailed(GovernError):
    """A revision could not be applied; the database is at the last complete one."""

    code = "upgrade_failed"
    http_status = 500
    exit_code = 1


class DanglingRows(Exception):
    """`PRAGMA foreign_key_check` found rows pointing at rows that do not exist (raised inside the revision's
    transaction, so the revision is rolled back)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        super().__init__(f"{len(problems)} row(s) refer to rows that do not exist: {shown}")


def dangling_rows(connection: sa.Connection) -> list[str]:
    """Every row whose foreign key points at no row (SQLite), each as 'table row N: column=value points at no parent'."""
    problems = []
    columns: dict[tuple[str, int], list[str]] = {}
    for table, rowid, parent, fkid in connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall():
        if (table, fkid) not in columns:
            for fk in connection.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")').fetchall():
                columns.setdefault((table, fk[0]), []).append(fk[3])
        names = columns.get((table, fkid), [])
        values = ""
        if names and rowid is not None:
            row = connection.exec_driver_sql(
                f'SELECT {", ".join(chr(34) + n + chr(34) for n in names)} FROM "{table}" WHERE rowid = ?',
                (rowid,)).first()
            if row is not None:
                values = ", ".join(f"{n}={v!r}" for n, v in zip(names, row)) + " "
        problems.append(f"{table} row {rowid}: {values}points at no {parent}")
    return problems


def check_foreign_keys(ctx, step, heads, run_args) -> None:  # alembic's on_version_apply callback
    """Refuse (and so roll back) a SQLite revision that leaves a dangling row."""
    connection = ctx.connection
    if connection is None or connection.dialect.name != "sqlite":
        return  # PostgreSQL checks every foreign key in the DDL itself
    problems = dangling_rows(connection)
    if problems:
        raise DanglingRows(problems)


def sqlite_path(db: Database) -> Path | None:
    """The SQLite database file, or None (PostgreSQL, in-memory)."""
    if not db.is_sqlite:
        return None
    path = db.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def backup_sqlite(db: Database, target: Path) -> Path:
    """An online, consistent copy of the SQLite database into `target` (the sqlite3 backup API: writers may go on)."""
    source_path = sqlite_path(db)
    if source_path is None:
        raise GovernError("only a SQLite database file can be backed up this way")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise GovernError(f"{target} exists already; choose another path")
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # it holds password and token hashes
    source = sqlite3.connect(str(source_path), timeout=30)
    copy = sqlite3.connect(str(target))
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target


def default_backup_path(instance_path: Path, label: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Path(instance_path) / "backups" / f"govern-{stamp}-{label}.sqlite"


def restore_hint(db: Database, backup: Path | None) -> str:
    if backup is None:
        return ("No backup was taken (PostgreSQL: restore from your pg_dump, or fix the cause and run "
                "`govern db upgrade` again)")
    path = sqlite_path(db)
    return (f"A backup taken before it is at {backup}; to go back to it, stop every govern process, then "
            f"`cp {backup} {path}` and `rm -f {path}-wal {path}-shm`")


@dataclass
class Migration:
    revisions: list[str]  # applied, in order
    backup: Path | None
    at: set[str]


def _plan(db: Database, target: str) -> list[str]:
    """The revisions to apply, in the order to apply them (each after every revision it depends on)."""
    script = ScriptDirectory.from_config(alembic_config(db))
    current = tuple(db.current_revisions()) or "base"
    return [r.revision for r in reversed(list(script.iterate_revisions(target, current)))]


def upgrade(db: Database, instance_path: Path, *, target: str = "heads", backup: bool = True) -> Migration:
    """Bring the schema to `target` one revision at a time (a backup of a SQLite file first)."""
    plan = _plan(db, target)
    taken = None
    if plan and backup and sqlite_path(db) is not None and db.current_revisions():
        label = "before-upgrade-from-" + "+".join(sorted(db.current_revisions()))
        taken = backup_sqlite(db, default_backup_path(instance_path, label))
    cfg = alembic_config(db)
    done: list[str] = []
    for revision in plan:
        try:
            command.upgrade(cfg, revision)
        except Exception as exc:  # noqa: BLE001 - any failure of a revision is reported the same way
            at = db.current_revisions()
            raise UpgradeFailed(
                f"the upgrade stopped at revision {revision}: {_reason(exc)}. Nothing of {revision} was written; "
                f"the database is at revision {', '.join(sorted(at)) or '(none)'}, every revision before it complete. "
                f"{restore_hint(db, taken)}. Fix the cause, then run `govern db upgrade` again.",
                {"revision": revision, "at": ", ".join(sorted(at)), "backup": str(taken) if taken else None}) from None
        done.append(revision)
    return Migration(done, taken, db.current_revisions())


def previous_target(db: Database) -> str:
    """The downgrade target that undoes exactly one revision: the newest applied one (Alembic's `-1` is ambiguous
    at a merge or with several heads)."""
    script = ScriptDirectory.from_config(alembic_config(db))
    order = [r.revision for r in reversed(list(script.walk_revisions()))]
    newest = max(db.current_revisions(), key=order.index)
    parents = script.get_revision(newest).down_revision
    if isinstance(parents, (tuple, list)):
        return parents[0]  # a merge: its parents' other branches are not above this parent, so they stay
    return f"{newest}@-1" if parents else "base"


def downgrade(db: Database, instance_path: Path, *, target: str | None = None, backup: bool = True) -> Migration:
    """Undo revisions down to `target` (default: the newest revision only), a backup of a SQLite file first."""
    before = db.current_revisions()
    if not before:
        raise GovernError("the database has no schema revision to downgrade from")
    target = target or previous_target(db)
    taken = None
    if backup and sqlite_path(db) is not None:
        taken = backup_sqlite(db, default_backup_path(instance_path, "before-downgrade-from-" + "+".join(sorted(before))))
    try:
        command.downgrade(alembic_config(db), target)
    except Exception as exc:  # noqa: BLE001
        at = db.current_revisions()
        raise UpgradeFailed(
            f"the downgrade to {target} stopped: {_reason(exc)}. The database is at revision "
            f"{', '.join(sorted(at)) or '(none)'}. {restore_hint(db, taken)}.",
            {"target": target, "at": ", ".join(sorted(at)), "backup": str(taken) if taken else None}) from None
    return Migration([], taken, db.current_revisions())


def _reason(exc: Exception) -> str:
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip().splitlines()[0]
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rstrip(".")
