"""Pull: backlog item status comes back to solutions, by incremental JQL search and by webhook (the same update).

Incremental: `project = P AND labels = govern AND updated >= "<watermark minute>" ORDER BY updated DESC, key DESC`,
page by page, each page applied and committed with a checkpoint before the next is asked for; the watermark (the
newest `updated` applied, to the millisecond, in the `jira.sync` Setting) moves only once every page down to it has
been applied, so it is never ahead of what is applied, and an interrupted pull resumes from its checkpoint rather
than starting over (applying is idempotent). Transient failures are waited out as the caller's `Patience` allows.
Why newest first: JQL dates have minute precision, so `updated >= "<minute>"` also returns the items of the
watermark's own minute, which are unchanged. Oldest-first paging would have to read all of them on every pull (after a
bulk push of 1,000 items within one minute: ten pages for nothing); newest-first stops at the first page whose oldest
item is not newer than the watermark, so an unchanged backlog costs one call whatever its size.

When the last open solution of an opportunity is done, the lifecycle is told (`workflows.services`), so that the
`solutions_delivered` guard opens and the lifecycle's rule applies (an `auto` transition is requested on its own).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.model import Setting, Solution, utcnow
from govern.policy import Actor
from govern.integrations.jira.adapter import JiraAdapter, Patience
from govern.integrations.jira.mapping import SYNC_STATE_KEY, JiraMapping, installation_labels, solution_id_from_labels
from govern.integrations.jira.push import MARKER_LABEL, load_mapping, our_label
from govern.workflows.services import opportunity_delivered
from govern.services.opportunities import set_solution_state

log = logging.getLogger(__name__)

PULL_FIELDS = ["labels", "status", "updated", "summary"]
JIRA_ACTOR = "jira"


def parse_jira_time(value: str | None) -> dt.datetime | None:
    """Jira's `2024-05-01T10:00:00.000+0000` as naive UTC."""
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return dt.datetime.strptime(value, fmt).astimezone(dt.timezone.utc).replace(tzinfo=None)
        except ValueError:
            continue
    return None


@dataclass
class PullReport:
    updated: int = 0
    unchanged: int = 0
    unknown: int = 0  # items with our marker label but no solution here (e.g. another installation's)
    stale: int = 0  # older than what we already hold (by Jira's `updated`): ignored
    pages: int = 0
    delivered_opportunities: list[str] = field(default_factory=list)
    lifecycle: list[str] = field(default_factory=list)


def sync_state(session: Session) -> dict[str, Any]:
    setting = session.get(Setting, SYNC_STATE_KEY)
    return dict(setting.value or {}) if setting else {}


def save_sync_state(session: Session, **changes) -> None:
    setting = session.get(Setting, SYNC_STATE_KEY)
    if setting is None:
        setting = Setting(key=SYNC_STATE_KEY, value={})
        session.add(setting)
    setting.value = {**(setting.value or {}), **changes}


def apply_issue(session: Session, mapping: JiraMapping, issue: dict[str, Any], report: PullReport, *,
                source: str, installation: str | None = None) -> Solution | None:
    """Apply one backlog item's state to its solution (no commit). Unchanged items change nothing.

    `installation` (our installation label): an item another installation created is not ours, whatever its
    `govern-sol-N` label says; an item we never linked is adopted only when it carries our label."""
    fields = issue.get("fields") or {}
    if installation is not None:
        marks = installation_labels(fields.get("labels"))
        if marks and installation not in marks:
            report.unknown += 1
            return None
    solution_id = solution_id_from_labels(fields.get("labels"))
    solution = session.get(Solution, solution_id) if solution_id is not None else None
    if solution is None:
        solution = session.scalar(sa.select(Solution).where(Solution.external_key == issue.get("key")))
    if solution is not None and solution.external_key is None and installation is not None \
            and installation not in installation_labels(fields.get("labels")):
        solution = None  # never linked, and not marked as ours: an item of an older or another installation
    if solution is None or (solution.external_key and solution.external_key != issue.get("key")):
        report.unknown += 1  # not ours, or a stray copy of an item we know under another key: it drives nothing
        return None
    status = fields.get("status") or {}
    updated = parse_jira_time(fields.get("updated"))
    if (updated is not None and solution.external_updated_at is not None and updated < solution.external_updated_at
            and solution.external_key == issue.get("key")):
        report.stale += 1  # an older view than what we hold (a late or replayed webhook): it must not move us back
        return None
    state = mapping.state_for(status)
    status_name = status.get("name")
    if (solution.external_key == issue.get("key") and solution.external_status == status_name
            and (state is None or solution.state == state)
            and (updated is None or solution.external_updated_at == updated)):
        report.unchanged += 1
        return None
    actor = Actor.system_actor(JIRA_ACTOR)
    was_done = solution.state == "done"
    # Learning the first status of an item we just created is not a change; a different status or state is.
    changed = solution.external_key is None or (
        solution.external_status is not None and status_name != solution.external_status) or (
        state is not None and state != solution.state)
    if solution.external_key is None:  # created by an attempt whose answer we never saw
        solution.external_key = issue.get("key")
    if changed and state is not None:  # through the service: permission, audit of the change
        set_solution_state(session, actor, solution.id, state, external_status=status_name, commit=False)
    elif status_name:
        solution.external_status = status_name
    solution.external_updated_at = updated or solution.external_updated_at
    solution.synced_at = utcnow()
    if not changed:  # only Jira's timestamp moved (e.g. an edit of a field we do not map)
        report.unchanged += 1
        return None
    report.updated += 1
    if state == "done" and not was_done:
        session.flush()
        opportunity = solution.opportunity
        if all(s.state == "done" for s in opportunity.solutions):
            report.delivered_opportunities.append(opportunity.key)
    log.debug("applied %s from %s to %s", issue.get("key"), source, solution.key)
    return solution


def tell_lifecycle(db, opportunity_keys: Iterable[str], report: PullReport) -> None:
    """Every solution of these opportunities is done: let the lifecycle apply its rule (each in its own transaction)."""
    for key in dict.fromkeys(opportunity_keys):
        with db.session_scope() as session:
            said = opportunity_delivered(session, Actor.system_actor(JIRA_ACTOR), key)
        report.lifecycle.append(f"{key}: {said}")
        log.info("lifecycle on %s: %s", key, said)


def pull(db, adapter: JiraAdapter, *, dry_run: bool = False, page_size: int = 100,
         progress: Callable[[int], None] | None = None, patience: Patience | None = None) -> PullReport:
    """Bring status back from Jira for our items updated since the watermark, page by page.

    Each page is applied and committed together with a checkpoint (`pull_progress`: the newest time seen, the old
    watermark, and how far down the pages have come), so an interrupted pull resumes where it stopped instead of
    starting over: the next pull reads what is newer than the checkpoint, then only the gap below it. Every Jira call
    waits out transient failures as `patience` allows (none by default: `govern jira sync` and the reconciler pass
    theirs)."""
    report = PullReport()
    patience = patience or Patience(wait_seconds=0)
    with db.session_scope() as session:
        mapping = load_mapping(session)
        state = sync_state(session)
        session.rollback()
    if not state.get("identity") and not dry_run:
        # Who we are in Jira (Cloud shows only an account id in webhooks): asked once, kept, used to spot echoes.
        me = patience.call(lambda: adapter.client().myself())
        identity = sorted({str(me[k]) for k in ("name", "key", "emailAddress", "accountId") if me.get(k)})
        with db.session_scope() as session:
            save_sync_state(session, identity=identity)
            session.commit()
    watermark = _time(state.get("watermark"))
    reader = _RangeReader(db, adapter, mapping, report, dry_run=dry_run, page_size=page_size, progress=progress,
                          patience=patience)
    checkpoint = state.get("pull_progress") or None
    if checkpoint:  # an earlier pull stopped part-way: what is newer than it saw, then the gap it left
        ceiling = _time(checkpoint.get("ceiling"))
        newest = reader.read(floor=ceiling)
        reader.read(floor=_time(checkpoint.get("floor")), below=_time(checkpoint.get("down_to")),
                    checkpoint=dict(checkpoint))
        newest = max(t for t in (newest, ceiling, watermark) if t is not None) if (newest or ceiling) else watermark
    else:
        newest = reader.read(floor=watermark, checkpoint={"floor": watermark.isoformat() if watermark else None})
    if not dry_run:
        with db.session_scope() as session:
            # Every page down to the old watermark is applied: only now may the watermark move past them all.
            if newest is not None and newest != watermark:
                save_sync_state(session, watermark=newest.isoformat())
            save_sync_state(session, last_pull_at=utcnow().isoformat(), pull_progress=None)
            session.commit()
    if not dry_run and report.delivered_opportunities:
        tell_lifecycle(db, report.delivered_opportunities, report)
    return report


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class _RangeReader:
    """Reads `project = P AND labels = govern AND updated >= floor [AND updated < below] ORDER BY updated DESC` page by
    page, applying each page; an item already applied in this pull is skipped (ranges overlap at their minutes)."""

    def __init__(self, db, adapter, mapping, report, *, dry_run, page_size, progress, patience):
        self.db, self.adapter, self.mapping, self.report = db, adapter, mapping, report
        self.dry_run, self.page_size, self.progress, self.patience = dry_run, page_size, progress, patience
        self.seen: set[str] = set()
        self.installation = our_label(db)

    def read(self, *, floor: dt.datetime | None, below: dt.datetime | None = None,
             checkpoint: dict | None = None) -> dt.datetime | None:
        """Apply every item of the range; with `checkpoint`, save progress after each page. Answers the newest time."""
        jql = f"project = {self.mapping.project} AND labels = {MARKER_LABEL}"
        if floor is not None:
            jql += f' AND updated >= "{self.mapping.jql_time(floor)}"'
        if below is not None:  # JQL has minute precision: up to the end of `below`'s minute
            jql += f' AND updated < "{self.mapping.jql_time(below + dt.timedelta(minutes=1))}"'
        jql += " ORDER BY updated DESC, key DESC"
        newest = None
        token: Any = None
        start = 0
        while True:
            page = self.patience.call(self.adapter.search, jql, PULL_FIELDS, page_size=self.page_size,
                                      token=token if self.adapter.is_cloud else None, start_at=start)
            issues = page["issues"]
            self.report.pages += 1
            oldest = None
            with self.db.session_scope() as session:
                ids = [solution_id_from_labels((i.get("fields") or {}).get("labels")) for i in issues]
                list(session.scalars(sa.select(Solution).where(Solution.id.in_([i for i in ids if i is not None]))))
                for issue in issues:  # the page's solutions are in the session now: no query per item
                    updated = parse_jira_time((issue.get("fields") or {}).get("updated"))
                    if updated and (newest is None or updated > newest):
                        newest = updated
                    if updated and (oldest is None or updated < oldest):
                        oldest = updated
                    if issue.get("key") in self.seen:
                        continue
                    self.seen.add(issue.get("key"))
                    apply_issue(session, self.mapping, issue, self.report, source="pull",
                                installation=self.installation)
                if self.dry_run:
                    session.rollback()
                else:
                    if checkpoint is not None and page["next"] is not None and oldest is not None:
                        if checkpoint.get("ceiling") is None and newest is not None:
                            checkpoint["ceiling"] = newest.isoformat()
                        checkpoint["down_to"] = oldest.isoformat()
                        save_sync_state(session, pull_progress=dict(checkpoint))
                    session.commit()
            if self.progress:
                self.progress(len(issues))
            if page["next"] is None or (floor is not None and oldest is not None and oldest <= floor):
                return newest  # everything further down is older than the range's floor
            if self.adapter.is_cloud:
                token = page["next"]
            else:
                start = page["next"]
