"""Benchmark: a load run of 50 simulated council members against `govern serve` (gunicorn, 4 workers) on PostgreSQL
holding 10,000 opportunities (issue 16).

1. A dedicated PostgreSQL database (dropped and created): the example organisation through the services, then the bulk
   rows of bench/queries.py up to 10,000 opportunities (and 200 pending approval requests), and an API token for each
   of the example's people.
2. `govern serve --workers 4` (gunicorn; the default threads, ritual scheduler and outbox worker in each process).
3. locust, headless, in its own process (bench/load_users.py): each user signs in through the web form as one of the
   example's people (round robin) and mixes the board, opportunity pages, the evidence list, the approvals inbox,
   transition requests (web form and API), approvals (inbox button and API) and the API lists, 1–4 s apart, and
   `/healthz` as the baseline of the same run (no database: its time is the time spent waiting for a free worker).
4. Printed: p50/p95/p99 and count by page, server errors (5xx or no answer: the goal is 0), legitimate domain refusals
   (409/403 and form error notices, named by their message: guards unmet, decided by someone faster, ...), unexpected
   answers, what changed, the time inside the app by route (the app's own /metrics histogram, read before the server
   stops: no queueing in it), and the audit chain verified (`govern.audit.verify`, as `govern audit verify` does).

Times are wall-clock on a shared machine (the load generator runs on it too): read them as orders of magnitude and
compare pages with each other and with the /healthz baseline (the machine's load average is printed too); the server
errors and the audit chain are the verdicts.

    pip install -e '.[bench]'                                   # locust (not part of the test extra)
    python bench/load.py                                        # 2 minutes, 50 users, 10,000 opportunities
    python bench/load.py --duration 20 --users 10               # a short try
    python bench/load.py --database-url postgresql+psycopg://postgres@127.0.0.1/govern_load --workers 4

The database named in --database-url is dropped and created again.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# bench/transitions.py is named like the `transitions` library: take bench/ off the path so the library is found.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import sqlalchemy as sa  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/govern_load"
BASELINE = "GET /healthz (baseline: no database)"  # the name bench/load_users.py gives it


def recreate_database(url: str) -> None:
    """Drop and create the database the URL names (connecting to the server's `postgres` database to do it)."""
    target = sa.engine.make_url(url)
    if target.get_backend_name() != "postgresql":
        raise SystemExit(f"bench/load.py runs on PostgreSQL; {target.get_backend_name()} was given")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    except sa.exc.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not reachable at {target.render_as_string(hide_password=True)}: "
                         f"{exc.orig}") from None
    finally:
        admin.dispose()


def prepare(url: str, opportunities: int) -> dict[str, str]:
    """The example organisation plus bulk rows; an API token per person (handle -> secret)."""
    from bench.queries import add_bulk, load_example
    from govern.bootstrap import bootstrap
    from govern.db import Database
    from govern.model import Person
    from govern.services.common import load_actor
    from govern.services.people import create_token

    recreate_database(url)
    db = bootstrap(Database(url))
    db.upgrade()
    start = time.perf_counter()
    load_example(db)
    add_bulk(db, opportunities)
    with db.session_scope() as s:
        handles = s.scalars(sa.select(Person.handle).where(Person.active.is_(True)).order_by(Person.handle)).all()
        tokens = {h: create_token(s, load_actor(s, h), "load run").secret for h in handles}
    db.dispose()
    print(f"prepared {opportunities:,} opportunities and {len(tokens)} people with API tokens "
          f"in {time.perf_counter() - start:.0f} s")
    return tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, workers: int, tmp: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GOVERN_DATABASE_URL": url, "GOVERN_INSTANCE_PATH": str(tmp / "instance"),
           "GOVERN_SECRET_KEY": "load-bench"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "govern.cli", "serve", "--port", str(port),
                                   "--workers", str(workers)], cwd=tmp, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        if server.poll() is not None:
            raise SystemExit(f"govern serve exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
                if response.status == 200:
                    return server, base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    stop(server)
    raise SystemExit(f"govern serve did not become ready:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_locust(base: str, users: int, duration: int, tokens: dict[str, str], opportunities: int, tmp: Path) -> dict:
    from govern.cli.support import DEMO_PASSWORD

    results = tmp / "results.json"
    env = {**os.environ, "LOAD_TOKENS": json.dumps(tokens), "LOAD_PASSWORD": DEMO_PASSWORD,
           "LOAD_OPPORTUNITIES": str(opportunities), "LOAD_RESULTS": str(results)}
    log = tmp / "locust.log"
    with log.open("w") as out:
        subprocess.run([sys.executable, "-m", "locust", "-f", str(_HERE / "load_users.py"), "--headless",
                        "--users", str(users), "--spawn-rate", str(max(1, users // 5)), "--run-time", f"{duration}s",
                        "--stop-timeout", "30", "--host", base, "--only-summary", "--loglevel", "WARNING"],
                       env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp, check=False)
    if not results.exists():
        raise SystemExit(f"locust wrote no results:\n{log.read_text()[-5000:]}")
    return json.loads(results.read_text())


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    index = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def report(results: dict, duration: int, users: int, opportunities: int, workers: int) -> None:
    samples = results["samples"]
    total = sum(len(v) for v in samples.values())
    print(f"\nLoad run: {users} council members, {duration} s, gunicorn {workers} workers, PostgreSQL, "
          f"{opportunities:,} opportunities: {total:,} requests ({total / duration:.1f}/s)")
    baseline = sorted(samples.get(BASELINE) or [0.0])
    print(f"  {'page':52} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p95/base':>9}")
    for name in sorted(samples, key=lambda n: -percentile(sorted(samples[n]), 95)):
        values = sorted(samples[name])
        ratio = f"{percentile(values, 95) / percentile(baseline, 95):.1f}" if percentile(baseline, 95) else "-"
        print(f"  {name:52} {len(values):6} {statistics.median(values):8.0f} {percentile(values, 95):8.0f} "
              f"{percentile(values, 99):8.0f} {values[-1]:8.0f} {ratio:>9}")
    print(f"  (p95/base: against {BASELINE}, which waits in the same queues but reads nothing)")
    for title, counts in (("Server errors (5xx or no answer; goal 0)", results["server_errors"]),
                          ("Legitimate domain refusals (not errors)", results["refusals"]),
                          ("Unexpected answers (other 4xx: a bench or app bug)", results["unexpected"]),
                          ("Changes made", results["done"]),
                          ("Keep-alive connections closed by the server as a request went out (retried once on a "
                           "new connection, as browsers do)", results["reconnects"])):
        print(f"{title}: {sum(counts.values())}")
        for what, n in sorted(counts.items(), key=lambda item: -item[1]):
            print(f"  {n:6}  {what}")


def server_times(base: str) -> dict[str, tuple[int, float, dict[float, float]]]:
    """The app's own request-duration histogram (`/metrics`, every worker): per route, count, seconds in all and the
    cumulative count per bucket bound, summed over methods and statuses. This is the time inside the app, without the
    wait for a free worker thread that the client-side times include."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base}/metrics", timeout=60) as response:
        text = response.read().decode()
    routes: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "govern_http_request_duration_seconds":
            continue
        for sample in family.samples:
            route = f"{sample.labels['method']} {sample.labels['route']}"
            count, total, buckets = routes.setdefault(route, [0, 0.0, {}])
            if sample.name.endswith("_count"):
                routes[route][0] += int(sample.value)
            elif sample.name.endswith("_sum"):
                routes[route][1] += sample.value
            elif sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0) + sample.value
    return {route: (count, total, buckets) for route, (count, total, buckets) in routes.items()}


def report_server_times(routes: dict[str, tuple[int, float, dict[float, float]]]) -> None:
    def bound(buckets: dict[float, float], count: int, p: float) -> str:
        for le in sorted(buckets):
            if buckets[le] >= p / 100 * count:
                return f"<= {le:g} s" if le != float("inf") else "> " + f"{max(b for b in buckets if b != float('inf')):g} s"
        return "-"

    print("Time inside the app by route (its /metrics histogram, all workers; no queueing):")
    print(f"  {'route':52} {'count':>6} {'mean ms':>8} {'p50':>10} {'p95':>10}")
    for route, (count, total, buckets) in sorted(routes.items(), key=lambda item: -item[1][1] / max(1, item[1][0])):
        if count:
            print(f"  {route:52} {count:6} {total / count * 1000:8.0f} {bound(buckets, count, 50):>10} "
                  f"{bound(buckets, count, 95):>10}")


def verify_audit(url: str) -> bool:
    from govern import audit
    from govern.bootstrap import bootstrap
    from govern.db import Database

    db = bootstrap(Database(url))
    with db.session_scope() as s:
        result = audit.verify(s)
    db.dispose()
    if result.ok:
        print(f"Audit chain intact: {result.checked:,} events verified")
    else:
        print(f"AUDIT CHAIN BROKEN at event {result.first_broken_id}: {result.problem} "
              f"({result.checked:,} events before it verified)")
    return result.ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=120, help="seconds of load (default 120)")
    parser.add_argument("--users", type=int, default=50, help="simulated council members (default 50)")
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--database-url", default=os.environ.get("GOVERN_LOAD_DATABASE_URL", DEFAULT_URL),
                        help=f"PostgreSQL database to drop, create and fill (default {DEFAULT_URL})")
    args = parser.parse_args()
    if importlib.util.find_spec("locust") is None:
        print("bench/load.py needs locust, which is not installed: pip install -e '.[bench]' "
              "(the optional `bench` extra; the test extra does not include it)", file=sys.stderr)
        sys.exit(2)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, also when sent to a file
    tokens = prepare(args.database_url, args.opportunities)
    tmp = Path(tempfile.mkdtemp(prefix="govern-load-"))  # kept: the server's and locust's logs are read after a run
    server_log = tmp / "serve.log"
    server, base = start_server(args.database_url, args.workers, tmp, server_log)
    load_before = os.getloadavg()[0]
    try:
        results = run_locust(base, args.users, args.duration, tokens, args.opportunities, tmp)
        in_app = server_times(base)
    finally:
        stop(server)
    server_output = server_log.read_text()
    tracebacks = server_output.count("Traceback")
    worker_deaths = server_output.count("WORKER TIMEOUT") + server_output.count("was sent SIGKILL")
    if tracebacks:
        first = server_output.index("Traceback")
        print("First traceback in the server log:\n" + "\n".join(server_output[first:].splitlines()[:40]))
    report(results, args.duration, args.users, args.opportunities, args.workers)
    report_server_times(in_app)
    print(f"Machine load average (1 min): {load_before:.1f} before the run, {os.getloadavg()[0]:.1f} at its end "
          f"({os.cpu_count()} CPUs; the load generator runs here too)")
    print(f"Tracebacks in the server log: {tracebacks}; workers killed (timeout): {worker_deaths} "
          f"(logs: {tmp}/serve.log, {tmp}/locust.log)")
    chain_ok = verify_audit(args.database_url)
    verdict = not results["server_errors"] and not results["unexpected"] and chain_ok and not tracebacks and not worker_deaths
    print("Verdict: " + ("0 server errors, audit chain intact" if verdict else "FAILED (see above)"))
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
