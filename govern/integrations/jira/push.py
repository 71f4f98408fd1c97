"""Push: solutions become backlog items, through the outbox (topic `jira`), in bulk, exactly once.

Exactly once, although a create can land and its answer get lost (a dropped connection, a timeout, a worker killed
between Jira's answer and our commit):
1. every item carries our stable label `govern-sol-<id>` (and the marker label `govern` the pull searches by);
2. a solution that already has an `external_key` is never created again;
3. a message on its second or later attempt first looks its solutions up by label (one JQL search per batch) and adopts
   what it finds instead of creating;
4. the library's own retries are off (see adapter), so a POST is never repeated behind our back;
5. Jira's search is eventually consistent (Atlassian, "Search after write with search and reconcile": a new issue
   appears in JQL results after a delay of seconds, sometimes minutes; Cloud and Data Center alike), so a search right
   after a create whose answer was lost may not see it. Such a message is marked unsure (`unsure_since`, also set when
   a worker's lease ran out mid-delivery) and is neither searched nor created again until `settle_seconds`
   (GOVERN_JIRA_SETTLE_SECONDS, default 60, longer than the index lag) have passed since: its `last_error` says so
   ("created? answer lost at 10:02:07 UTC; searching Jira again after 10:03:07 UTC before creating"). Then the search
   decides: adopt what it finds, create what it does not. (Cloud's `reconcileIssues` needs the issue ids, which are
   exactly what the lost answer held.)
A first attempt needs no lookup: nothing can exist yet. So a clean push of N solutions costs ceil(N/50) bulk calls, plus
`serverInfo` and the project's issue types once per process.

Ranking: items are created in our portfolio rank order (best first) within each batch, so new items enter the backlog
in our order (Jira appends new issues at the bottom). Re-ordering items that already exist is `rank_backlog`, run by
`govern jira sync`; where the project does not allow ranking (no Jira Software / no Rank field, a 403/404 from the agile
API), ranking is skipped and reported once in the sync state, and our order is carried by the priority field only.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload
import uuid

from govern import audit
from govern.errors import InvalidInput
from govern.model import Opportunity, OutboxMessage, Setting, Solution, utcnow
from govern.integrations.delivery import Outcome
from govern.integrations.jira.adapter import JiraAdapter, ProjectProblem, answer_lost, classify
from govern.integrations.jira.mapping import (INSTALLATION_SETTING, SETTING_KEY, JiraMapping, installation_label,
                                              solution_id_from_labels, solution_label)
from govern.policy import Actor
from govern.scoring import rank_portfolio

log = logging.getLogger(__name__)

TOPIC = "jira"
MARKER_LABEL = "govern"
BULK_LIMIT = 50
CREATE_KINDS = ("create_issue",)  # one solution ({solution_id}), written by the lifecycle's create_backlog_items effect


def installation_id(db) -> str:
    """This installation's id (made once, kept in the `installation` setting): marks the backlog items it creates."""
    with db.session_scope() as session:
        setting = session.get(Setting, INSTALLATION_SETTING)
        if setting is not None and (setting.value or {}).get("id"):
            return str(setting.value["id"])
        session.add(Setting(key=INSTALLATION_SETTING, value={"id": uuid.uuid4().hex[:12]}))
        try:
            session.commit()
        except sa.exc.IntegrityError:  # another process made it a moment ago
            session.rollback()
        return str(session.get(Setting, INSTALLATION_SETTING).value["id"])


def our_label(db) -> str:
    return installation_label(installation_id(db))


def load_mapping(session: Session) -> JiraMapping:
    setting = session.get(Setting, SETTING_KEY)
    return JiraMapping.from_setting(setting.value if setting else None)


def message_solution_ids(session: Session, message: OutboxMessage) -> list[int]:
    """The solutions a message asks to push: named ones, or every solution of the named opportunity."""
    payload = message.payload or {}
    if payload.get("solution_id") is not None:
        return [int(payload["solution_id"])]
    if payload.get("solution_ids"):
        return [int(i) for i in payload["solution_ids"]]
    opportunity_id = payload.get("opportunity_id")
    if opportunity_id is None and payload.get("opportunity"):
        number = str(payload["opportunity"]).upper().removeprefix("OPP-")
        opportunity_id = session.scalar(sa.select(Opportunity.id).where(Opportunity.number == int(number)))
    if opportunity_id is None:
        return []
    return list(session.scalars(sa.select(Solution.id).where(Solution.opportunity_id == int(opportunity_id))
                                .order_by(Solution.id)))


def opportunity_ranks(session: Session) -> dict[int, int]:
    """Our portfolio rank per opportunity id (1 = best); empty when scoring is not configured."""
    try:
        rows = rank_portfolio(session, explain=False)
    except Exception:  # noqa: BLE001 - ranking is a nicety for ordering and priority, never a reason not to push
        log.debug("portfolio rank unavailable", exc_info=True)
        return {}
    numbers = {row["number"]: row["rank"] for row in rows if row.get("rank") is not None}
    if not numbers:
        return {}
    ids = dict(session.execute(sa.select(Opportunity.number, Opportunity.id)
                               .where(Opportunity.number.in_(list(numbers)))).all())
    return {ids[n]: r for n, r in numbers.items() if n in ids}


@dataclass
class _Item:
    solution_id: int
    rank: int | None
    issue_type: str | None = None  # the lifecycle effect may name one; else the mapping's
    fields: dict[str, Any] | None = None
    key: str | None = None
    error: str | None = None  # permanent
    retry: Any = None  # a Failure when it should be tried again
    unsure_at: Any = None  # datetime: a create whose answer was lost (it may have landed)
    searched: bool = False  # looked up by label (after the settle time, when it was unsure)


@dataclass
class PushReport:
    created: int = 0
    adopted: int = 0  # found already in Jira by our label (an earlier attempt had landed)
    unchanged: int = 0  # already linked
    failed: int = 0
    retry: int = 0
    errors: list[str] = field(default_factory=list)


class JiraDeliverer:
    """Delivers `jira` outbox messages (creating backlog items for solutions)."""

    topic = TOPIC
    kinds = frozenset(CREATE_KINDS)
    batch_size = BULK_LIMIT

    def __init__(self, db, adapter: JiraAdapter, *, base_url: str | None = None, settle_seconds: float = 60.0,
                 clock=None):
        self.db = db
        self.adapter = adapter
        self.settle = dt.timedelta(seconds=settle_seconds)
        self.clock = clock or utcnow  # naive UTC; the worker's clock in tests
        self.base_url = (base_url or "http://127.0.0.1:5000").rstrip("/")
        self.last_report = PushReport()
        self._installation_label: str | None = None

    @property
    def installation_label(self) -> str:
        if self._installation_label is None:
            self._installation_label = our_label(self.db)
        return self._installation_label

    @classmethod
    def from_runtime(cls, runtime) -> "JiraDeliverer":
        return cls(runtime.db, runtime.adapters["jira"], base_url=runtime.config.base_url,
                   settle_seconds=runtime.config.jira_settle_seconds)

    def deliver(self, messages: Sequence[OutboxMessage]) -> list[Outcome]:
        report = PushReport()
        self.last_report = report
        creates = [m for m in messages if m.kind in CREATE_KINDS]
        outcomes = [Outcome.failed(m.id, f"unknown jira message kind {m.kind!r}") for m in messages
                    if m.kind not in CREATE_KINDS]
        now = self.clock()
        settling = [m for m in creates if m.unsure_since is not None and now < m.unsure_since + self.settle]
        for m in settling:  # Jira's search may not show it yet: neither search nor create before the settle time
            after = m.unsure_since + self.settle
            outcomes.append(Outcome.wait(
                m.id, f"created? answer lost at {m.unsure_since:%H:%M:%S} UTC; searching Jira again after "
                      f"{after:%H:%M:%S} UTC before creating", (after - now).total_seconds()))
        creates = [m for m in creates if m not in settling]
        if not creates:
            return outcomes
        with self.db.session_scope() as session:
            try:
                mapping = load_mapping(session)
            except InvalidInput as exc:  # govern.yaml's jira section is wrong: nothing to try until it is fixed
                problems = "; ".join(f"{k}: {v}" for k, v in (exc.details or {}).items())
                return outcomes + [Outcome.failed(m.id, f"{exc.message}: {problems}") for m in creates]
            if not mapping.enabled:
                return outcomes + [Outcome.retry(m.id, "Jira sync is switched off in govern.yaml (jira.enabled: "
                                                 "false); waiting", retry_after=300) for m in creates]
            wanted = {m.id: message_solution_ids(session, m) for m in creates}
            issue_types = {sid: (m.payload or {}).get("issue_type") for m in creates for sid in wanted[m.id]}
            all_ids = sorted({sid for ids in wanted.values() for sid in ids})
            solutions = {s.id: s for s in session.scalars(
                sa.select(Solution).where(Solution.id.in_(all_ids)).options(selectinload(Solution.opportunity)))}
            ranks = opportunity_ranks(session) if any(s.external_key is None for s in solutions.values()) else {}
            items: dict[int, _Item] = {}
            for sid in all_ids:
                solution = solutions.get(sid)
                if solution is None:
                    continue
                item = _Item(sid, ranks.get(solution.opportunity_id), issue_types.get(sid), key=solution.external_key)
                items[sid] = item
            # Leaving the block closes the session (objects stay loaded, detached); Jira is called outside it.
        pending = [i for i in items.values() if i.key is None]
        report.unchanged = len(items) - len(pending)
        if pending:
            self._push(mapping, creates, solutions, pending, report)
        return outcomes + [self._outcome(m, wanted[m.id], items) for m in creates]

    def _push(self, mapping: JiraMapping, creates, solutions, pending: list[_Item], report: PushReport) -> None:
        try:
            cloud = self.adapter.is_cloud
            project_id = self.adapter.project_meta(mapping.project)["id"]
            type_ids = {name: self.adapter.issue_type_id(mapping.project, name)
                        for name in {i.issue_type or mapping.solution_issue_type for i in pending}}
        except ProjectProblem as exc:
            for item in pending:
                item.error = str(exc)
            return
        except Exception as exc:  # noqa: BLE001
            failure = classify(exc)
            for item in pending:
                (setattr(item, "error", failure.message) if failure.permanent else setattr(item, "retry", failure))
            return
        # A message tried before may have landed: adopt what Jira already has under our labels.
        # (Any earlier claim, or any earlier error: a manual retry keeps `last_error`, so it looks up too.)
        retried = {sid for m in creates if m.attempts > 1 or m.last_error
                   for sid in message_solution_ids_cached(m, pending)}
        if retried:
            try:
                found = self.find_existing([i.solution_id for i in pending if i.solution_id in retried],
                                           project=mapping.project)
            except Exception as exc:  # noqa: BLE001
                failure = classify(exc)
                for item in pending:
                    item.retry = failure
                return
            adopted = []
            for item in pending:
                item.searched = item.solution_id in retried
                if item.solution_id in found:
                    item.key, status = found[item.solution_id]
                    adopted.append((item, status))
            self._link(adopted, created=False)
            report.adopted += len(adopted)
        to_create = sorted((i for i in pending if i.key is None),
                           key=lambda i: (i.rank is None, i.rank or 0, i.solution_id))
        for item in list(to_create):
            solution = solutions[item.solution_id]
            try:
                item.fields = mapping.fields_for(
                    solution, project_id=project_id, rank=item.rank, cloud=cloud,
                    issuetype_id=type_ids[item.issue_type or mapping.solution_issue_type],
                    link=f"{self.base_url}/opportunities/{solution.opportunity.key}")
            except (KeyError, ValueError, IndexError) as exc:  # e.g. an unknown {placeholder} in extra_fields
                item.error = f"jira.extra_fields cannot be filled in: {type(exc).__name__}: {exc}"
                to_create.remove(item)
                continue
            item.fields["labels"] = [*item.fields["labels"], MARKER_LABEL, self.installation_label]
        for start in range(0, len(to_create), BULK_LIMIT):
            chunk = to_create[start:start + BULK_LIMIT]
            try:
                results = self.adapter.bulk_create([i.fields for i in chunk])
            except Exception as exc:  # noqa: BLE001 - whatever happened, the next attempt looks up before creating
                failure = classify(exc)
                lost = answer_lost(exc)
                at = self.clock()
                for n, item in enumerate(to_create[start:]):
                    if failure.permanent:
                        item.error = failure.message
                    else:
                        item.retry = failure
                        if lost and n < len(chunk):  # this chunk went out: it may have landed
                            item.unsure_at = at
                break
            linked = []
            for item, result in zip(chunk, results):
                if "key" in result:
                    item.key = result["key"]
                    linked.append((item, None))  # its status (the workflow's first) comes with the next pull
                else:
                    item.error = result["error"]
            self._link(linked, created=True)
            report.created += len(linked)
        report.failed = sum(1 for i in pending if i.error)
        report.retry = sum(1 for i in pending if i.retry is not None and not i.key)

    def find_existing(self, solution_ids: list[int], *, project: str) -> dict[int, tuple[str, str | None]]:
        """Backlog items that already carry our labels, in our project, created by this installation:
        {solution id: (key, status name)}. (Another installation on the same Jira site has a SOL-1 too.)"""
        found: dict[int, tuple[str, str | None]] = {}
        for start in range(0, len(solution_ids), BULK_LIMIT):
            labels = ", ".join(solution_label(s) for s in solution_ids[start:start + BULK_LIMIT])
            jql = f"project = {project} AND labels = {self.installation_label} AND labels in ({labels}) ORDER BY key ASC"
            for page in self.adapter.search_all(jql, ["labels", "status"]):
                for issue in page:
                    sid = solution_id_from_labels(issue["fields"].get("labels"))
                    if sid is not None and sid not in found:  # the oldest wins if a duplicate ever existed
                        found[sid] = (issue["key"], (issue["fields"].get("status") or {}).get("name"))
        return found

    def _link(self, linked: list[tuple[_Item, str | None]], *, created: bool) -> None:
        """Remember the backlog items on their solutions at once: one short transaction, one audit event."""
        if not linked:
            return
        now = utcnow()
        keys = {item.solution_id: (item.key, status) for item, status in linked}
        with self.db.session_scope() as session:
            rows = session.scalars(sa.select(Solution).where(Solution.id.in_(list(keys))))
            changed = {}
            for solution in rows:
                key, status = keys[solution.id]
                if solution.external_key == key:
                    continue
                solution.external_key = key
                solution.external_url = self.adapter.browse_url(key)
                solution.external_status = status
                solution.synced_at = now
                changed[solution.key] = key
            if changed:
                audit.record(session, Actor.system_actor("jira"), "solution.backlog_items_linked", "jira",
                             self.adapter.url, after=changed,
                             reason=None if created else "found by their govern labels after an interrupted attempt")
            session.commit()

    @staticmethod
    def _outcome(message: OutboxMessage, solution_ids: list[int], items: dict[int, _Item]) -> Outcome:
        mine = [items[s] for s in solution_ids if s in items]
        if not mine:
            return Outcome.delivered(message.id)
        errors = [f"{solution_label(i.solution_id)}: {i.error}" for i in mine if i.error and not i.key]
        retries = [i for i in mine if i.retry is not None and not i.key]
        if retries:
            waits = [i.retry.retry_after for i in retries if i.retry.retry_after is not None]
            unsure = [i.unsure_at for i in retries if i.unsure_at is not None]
            if unsure:  # the create went out and its answer was lost: look again only after the settle time
                at = max(unsure)
                return Outcome.retry(message.id, f"created? answer lost at {at:%H:%M:%S} UTC "
                                     f"({retries[0].retry.message}); searching Jira before creating again",
                                     max(waits) if waits else None, unsure_since=at)
            # Nothing in doubt any more when every one was looked up after the settle time and the create was refused.
            return Outcome.retry(message.id, retries[0].retry.message, max(waits) if waits else None,
                                 settled=all(i.searched for i in mine if not i.key))
        if errors:
            return Outcome.failed(message.id, "; ".join(errors))
        return Outcome.delivered(message.id, ",".join(i.key for i in mine if i.key))


def message_solution_ids_cached(message: OutboxMessage, pending: list[_Item]) -> list[int]:
    """The pending solutions a (retried) message is about, from its payload without another query."""
    payload = message.payload or {}
    if payload.get("solution_id") is not None:
        return [int(payload["solution_id"])]
    if payload.get("solution_ids"):
        return [int(i) for i in payload["solution_ids"]]
    return [i.solution_id for i in pending]  # an opportunity-wide message: any of them may have landed


def rank_backlog(adapter: JiraAdapter, session: Session, mapping: JiraMapping,
                 ranks: dict[int, int] | None = None) -> str:
    """Order our open backlog items by our rank in Jira (agile rank API, ≤ 50 per call); says what it did.

    `ranks` (opportunity id → rank) defaults to the live portfolio ranking."""
    ranks = opportunity_ranks(session) if ranks is None else ranks
    rows = session.execute(sa.select(Solution.external_key, Solution.opportunity_id, Solution.id)
                           .where(Solution.external_key.is_not(None), Solution.state != "done")).all()
    ordered = [key for key, opp, sid in sorted(rows, key=lambda r: (ranks.get(r[1]) is None, ranks.get(r[1], 0),
                                                                     r[2]))]
    if len(ordered) < 2:
        return "nothing to rank"
    try:
        current = [i["key"] for page in adapter.search_all(
            f"project = {mapping.project} AND labels = {MARKER_LABEL} AND statusCategory != Done ORDER BY Rank ASC",
            ["labels"]) for i in page]
        if [k for k in current if k in set(ordered)] == ordered:
            return "backlog already in our order"
        anchor = ordered[0]
        for start in range(1, len(ordered), BULK_LIMIT):
            chunk = ordered[start:start + BULK_LIMIT]
            adapter.rank_after(chunk, anchor)
            anchor = chunk[-1]
    except Exception as exc:  # noqa: BLE001
        failure = classify(exc)
        if failure.permanent:
            return (f"ranking unavailable in project {mapping.project} ({failure.message}); "
                    "our order is carried by the priority field only")
        return f"ranking postponed: {failure.message}"
    return f"ranked {len(ordered)} backlog items in our order"


def pending_count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == TOPIC, OutboxMessage.status.in_(("pending", "in_flight")))) or 0

