"""Benchmark: how fast the running app acknowledges signed slash commands, 20 at a time, beside Slack's 3,000 ms
deadline (issue 8's goal: p99 < 300 ms).

    python bench/slack_ack.py [--server gunicorn|dev] [--rounds 5] [--concurrency 20]

The app runs as a separate process on the example organisation (SQLite file): by default under gunicorn
(`-k gthread`, 2 workers × 8 threads, the documented production server), or the Werkzeug dev server that
`govern serve` uses. Slack's Web API is the stand-in, in this process. Each round fires `concurrency` signed
commands at once (status, list, owner, help …, as Slack would send them) and times each acknowledgement: the HTTP
answer Slack waits for, whether it carries the answer itself or says the answer follows through response_url.
The baseline, measured in the same run at the same concurrency, is `GET /healthz` (one database round trip):
the ratio shows what a command costs over the server's floor.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from govern.integrations.slack.signing import signed_headers  # noqa: E402
from tests.standins.slack import SlackStandin  # noqa: E402

DEADLINE_MS = 3000.0
GOAL_P99_MS = 300.0
SECRET = "bench-signing-secret"
COMMANDS = ["status OPP-1", "list", "list switching-providers", "owner paying-my-bill", "help", "status roaming costs",
            "list awaiting", "status OPP-3", "owner switching-providers", "list mine"]
USERS = ["U0LOTTE01", "U0ANA0001", "U0FEMKE01", "U0MARCO01", "U0SAM0001"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(folder: Path, budget_ms: float | None) -> str:
    from govern.orgfile.load import load_example
    from govern.bootstrap import bootstrap
    from govern.db import Database
    from govern.policy import Actor

    url = f"sqlite:///{folder / 'govern.db'}"
    db = bootstrap(Database(url))
    db.upgrade()
    with db.session_scope() as session:
        load_example(session, Actor.system_actor("bench"))
        if budget_ms is not None:
            from govern.services.common import get_setting, put_setting

            put_setting(session, "slack", {**(get_setting(session, "slack", {}) or {}), "ack_budget_ms": budget_ms})
        session.commit()
    db.dispose()
    return url


def start_server(kind: str, url: str, standin: SlackStandin, folder: Path, port: int, workers: int,
                 threads: int) -> subprocess.Popen:
    env = dict(os.environ, GOVERN_DATABASE_URL=url, GOVERN_INSTANCE_PATH=str(folder), GOVERN_SECRET_KEY="bench",
               GOVERN_SLACK_BOT_TOKEN=standin.token, GOVERN_SLACK_SIGNING_SECRET=SECRET,
               GOVERN_SLACK_API_URL=standin.base_url, GOVERN_RUN_SCHEDULER="0", GOVERN_RUN_WORKER="0",
               PYTHONPATH=str(ROOT))
    if kind == "gunicorn":
        cmd = [str(Path(sys.executable).parent / "gunicorn"), "-k", "gthread", "-w", str(workers),
               "--threads", str(threads),
               "-b", f"127.0.0.1:{port}", "--log-level", "warning", "govern.app:create_app()"]
    else:
        cmd = [sys.executable, "-c", "from govern.cli import main; main()", "serve", "--port", str(port),
               "--no-scheduler", "--no-worker"]
    process = subprocess.Popen(cmd, env=env, cwd=str(folder), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the {kind} server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the {kind} server did not come up")


def command_request(standin: SlackStandin, n: int) -> tuple[bytes, dict[str, str]]:
    text, user = COMMANDS[n % len(COMMANDS)], USERS[n % len(USERS)]
    body = urllib.parse.urlencode({
        "token": "x", "team_id": standin.team_id, "team_domain": "standin", "channel_id": "C0GENERAL",
        "channel_name": "general", "user_id": user, "user_name": user, "command": "/journey", "text": text,
        "api_app_id": standin.app_id, "is_enterprise_install": "false",
        "response_url": standin.new_response_url(), "trigger_id": standin.new_trigger_id(),
    }).encode()
    return body, signed_headers(SECRET, body)


def burst(fire, concurrency: int, deferred: list | None = None) -> list[float]:
    """Fire `concurrency` requests at the same instant; milliseconds each took to be answered. Commands answered
    with an empty acknowledgement (the answer follows through response_url) go to `deferred` as (url, sent at)."""
    barrier = threading.Barrier(concurrency)

    def one(n: int) -> float:
        session = requests.Session()
        prepared, response_url = fire(n)
        barrier.wait()
        sent_at, started = time.time(), time.perf_counter()
        response = session.send(prepared, timeout=10)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")
        if deferred is not None and response_url and not response.content:
            deferred.append((response_url, sent_at))
        return elapsed

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, range(concurrency)))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["gunicorn", "dev"], default="gunicorn")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--budget-ms", type=float, default=None,
                        help="ack_budget_ms in the slack setting (default: the adapter's 50 ms)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="slack-ack-") as tmp, SlackStandin() as standin:
        folder = Path(tmp)
        url = prepare_database(folder, args.budget_ms)
        port = free_port()
        server = start_server(args.server, url, standin, folder, port, args.workers, args.threads)
        base = f"http://127.0.0.1:{port}"
        try:
            def health(n: int):
                return requests.Request("GET", base + "/healthz").prepare(), None

            def command(n: int):
                body, headers = command_request(standin, n)
                url = urllib.parse.parse_qs(body.decode())["response_url"][0]
                return requests.Request("POST", base + "/slack/commands", data=body, headers=headers).prepare(), url

            burst(command, args.concurrency)  # warm-up: imports, connections, first queries
            burst(health, args.concurrency)
            acks: list[float] = []
            floor: list[float] = []
            deferred: list[tuple[str, float]] = []
            for _ in range(args.rounds):
                floor += burst(health, args.concurrency)
                acks += burst(command, args.concurrency, deferred)
            # The deferred answers: each must reach its response_url; how long after the command did it show?
            wanted = {url: sent for url, sent in deferred}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len({p.url for p in standin.response_posts} & wanted.keys()) < len(
                    wanted):
                time.sleep(0.1)
            visible = [(p.at - wanted[p.url]) * 1000 for p in standin.response_posts if p.url in wanted]
            lost = len(wanted) - len({p.url for p in standin.response_posts} & wanted.keys())
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()

    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    described = (f"gunicorn gthread, {args.workers} workers x {args.threads} threads" if args.server == "gunicorn"
                 else "werkzeug dev server as `govern serve` runs it, threaded")
    print(f"server: {args.server} ({described}), "
          f"SQLite, example organisation; {cores} cores, load average {load:.1f}; answer budget "
          f"{'50 (default)' if args.budget_ms is None else args.budget_ms:} ms")
    print(f"{args.rounds} rounds x {args.concurrency} concurrent signed slash commands = {len(acks)} acknowledgements;"
          f" {len(acks) - len(wanted)} answered inline, {len(wanted)} acknowledged empty and answered through "
          f"response_url ({lost} lost)")
    if visible:
        print(f"deferred answers visible after:         p50 {percentile(visible, 50):7.1f} ms   "
              f"p99 {percentile(visible, 99):7.1f} ms")
    print(f"baseline GET /healthz, same concurrency:  p50 {percentile(floor, 50):7.1f} ms   "
          f"p99 {percentile(floor, 99):7.1f} ms")
    print(f"slash command acknowledgement:          p50 {percentile(acks, 50):7.1f} ms   "
          f"p99 {percentile(acks, 99):7.1f} ms   (p90 {percentile(acks, 90):.1f}, max {max(acks):.1f}, "
          f"mean {statistics.mean(acks):.1f} ms)")
    print(f"Slack's deadline {DEADLINE_MS:.0f} ms; goal p99 < {GOAL_P99_MS:.0f} ms")
    print(f"ratio p99 / deadline:            {percentile(acks, 99) / DEADLINE_MS:6.3f}  (must be < 1)")
    print(f"ratio p99 / goal:                {percentile(acks, 99) / GOAL_P99_MS:6.3f}  (goal < 1)")
    print(f"ratio command p50 / healthz p50: {percentile(acks, 50) / percentile(floor, 50):6.2f}")
    print(f"ratio command p99 / healthz p99: {percentile(acks, 99) / percentile(floor, 99):6.2f}")


if __name__ == "__main__":
    main()
