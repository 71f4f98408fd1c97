"""The outbox is a delivery queue between capabilities: every (topic, kind) a deliverer consumes has a producer in
product code, and every (topic, kind) product code produces has a deliverer that consumes it.

Producers are found by reading the source: every call of `enqueue(session, TOPIC, KIND, …)` or
`OutboxMessage(topic=TOPIC, kind=KIND, …)` under govern/, and every
`notify(session, EVENT, …)` (govern.notifications: topic `notifications`, kind the event), with the topic, kind or
event written as text or as a name (resolved in its module). Consumers are the deliverers: the classes of
govern.integrations with a `topic`, the `kinds` they consume and a `deliver` method.

This test builds no rows: it reads the source, so a producer nobody's test drives is still caught. The tests that run
the real producers into the real deliverers are tests/slack/test_every_notification_reaches_slack.py (every
notification event, from its use case to the Slack stand-in) and tests/jira/test_scenario.py and
tests/jira/test_reconcile.py (backlog items, from entering implement and from the reconciler to the Jira stand-in)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import govern
import govern.integrations
from govern import notifications

GOVERN = Path(govern.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(GOVERN.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(node: ast.expr, module: str):
    """The value a name or dotted name has in the module (`KIND`, `notifications.EVALUATION_DUE`), or a literal."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return getattr(importlib.import_module(module), node.id, None)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, module)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def produced() -> dict[tuple[str, str], list[str]]:
    """{(topic, kind): [where]} of every enqueue call in product code."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(GOVERN.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            module = _module_name(path)
            where = f"{path.relative_to(GOVERN.parent)}:{node.lineno}"
            if name == "notify" and len(node.args) >= 2 and module != "govern.notifications":
                topic, kind = notifications.TOPIC, _resolve(node.args[1], module)
            elif name == "enqueue" and len(node.args) >= 3:
                if module == "govern.notifications":
                    continue  # notify's own enqueue of the event it is given: counted at each notify call
                topic, kind = _resolve(node.args[1], module), _resolve(node.args[2], module)
            elif name == "OutboxMessage" and {"topic", "kind"} <= {k.arg for k in node.keywords}:
                # a producer that writes its rows in bulk (the Jira reconciler) rather than through enqueue
                given = {k.arg: k.value for k in node.keywords}
                topic, kind = _resolve(given["topic"], module), _resolve(given["kind"], module)
            else:
                continue
            assert isinstance(topic, str) and isinstance(kind, str), (
                f"{where}: write the topic and kind as text or a name the module defines")
            found.setdefault((topic, kind), []).append(where)
    return found


def consumed() -> dict[tuple[str, str], str]:
    """{(topic, kind): deliverer} of every deliverer in govern.integrations."""
    found: dict[tuple[str, str], str] = {}
    for info in pkgutil.walk_packages(govern.integrations.__path__, "govern.integrations."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            if isinstance(getattr(cls, "topic", None), str) and hasattr(cls, "deliver") and hasattr(cls, "kinds"):
                for kind in cls.kinds:
                    found[(cls.topic, kind)] = f"{cls.__module__}.{cls.__name__}"
    return found


def test_deliverers_are_found():
    topics = {topic for topic, _ in consumed()}
    assert {notifications.TOPIC, "jira"} <= topics


def test_every_consumed_kind_has_a_producer_in_product_code():
    producers = produced()
    orphans = {key: by for key, by in consumed().items() if key not in producers}
    assert not orphans, f"consumed but never produced: {orphans}"


def test_every_produced_kind_is_consumed():
    consumers = consumed()
    unread = {key: where for key, where in produced().items() if key not in consumers}
    assert not unread, f"produced but no deliverer consumes it: {unread}"
