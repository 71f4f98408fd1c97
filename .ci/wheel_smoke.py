"""The wheel works outside the source tree: build it, install it into a fresh venv, and run it from an empty folder.

    python .ci/wheel_smoke.py            # PostgreSQL at GOVERN_TEST_PG_URL (default: postgres@127.0.0.1:5432, trust)

Checks, in order (each failure exits non-zero and says what was wrong):
1. the wheel holds only the `govern` package (no generic top-level names such as `migrations` or `workflows`), no test
   stand-ins, and the package resources the product reads (example, lifecycles, migrations, templates, schema);
2. installed with its dependencies into a fresh venv, `govern` is imported from that venv, not from the source tree;
3. in an empty folder: `govern init --example`, `govern playbook build` and `govern schema` on SQLite; then on a
   throwaway PostgreSQL database `govern db upgrade`, `govern init --example`, `govern serve` (gunicorn, 2 workers) and
   GET /healthz, /readyz and /metrics;
4. the deployment recipe (docs/deployment.md): two `govern scheduler` processes elect exactly one leader, a
   `govern worker` runs, and `govern export --without-credentials` restores into an empty database whose audit chain
   verifies.
Standard library only, so any Python 3.11 runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("GOVERN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# Files the installed product reads at run time: each must be inside the wheel.
REQUIRED = ["govern/examples/telecom/govern.yaml", "govern/examples/telecom/runtime.yaml",
            "govern/migrations/env.py", "govern/migrations/script.py.mako",
            "govern/workflows/definitions/default.yaml", "govern/web/templates/base.html",
            "govern/web/static/app.css", "govern/playbook/templates/index.md.j2",
            "govern/schema/govern.schema.json", "govern/schema/govern-yaml.md"]
IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "instance", "test-artifacts",
                                 "__pycache__", ".hypothesis", ".import_linter_cache", ".pytest_cache")


def step(text: str) -> None:
    print(f"-- {text}", flush=True)


def fail(text: str) -> None:
    print(f"wheel smoke test FAILED: {text}", flush=True)
    sys.exit(1)


def run(cmd: list[str], *, cwd: Path, env: dict | None = None, timeout: float = 300) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        fail(f"{' '.join(map(str, cmd))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def build_wheel(work: Path) -> Path:
    # Build from a clean copy: setuptools' in-tree build/ folder can carry files deleted since the last build.
    source = work / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=IGNORED)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work / "dist"), str(source)],
        cwd=work)
    wheels = list((work / "dist").glob("*.whl"))
    if len(wheels) != 1:
        fail(f"expected one wheel, found {wheels}")
    return wheels[0]


def check_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    generic = sorted(t for t in top if t != "govern" and not t.endswith(".dist-info"))
    if generic:
        fail(f"the wheel installs top-level names other than govern: {generic}")
    standins = [n for n in names if "standin" in n.lower() or n.startswith("govern/tests/")]
    if standins:
        fail(f"test stand-ins ship in the wheel: {standins}")
    missing = [r for r in REQUIRED if r not in names]
    if missing:
        fail(f"package resources missing from the wheel: {missing}")
    if not any(n.startswith("govern/migrations/versions/") and n.endswith(".py") for n in names):
        fail("no Alembic revisions in the wheel")
    print(f"   {len(names)} files; top level: {sorted(top)}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def psql(venv_python: Path, sql: str) -> None:
    """Run one statement as the PostgreSQL admin, with the psycopg the installed product brought along."""
    url = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    run([str(venv_python), "-c", "import psycopg, sys\n"
         "with psycopg.connect(sys.argv[1], autocommit=True) as c: c.execute(sys.argv[2])", url, sql], cwd=Path("/"))


def sql_value(venv_python: Path, database_url: str, sql: str) -> str:
    """The first column of the first row of a query, as text."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    return run([str(venv_python), "-c", "import psycopg, sys\n"
                "with psycopg.connect(sys.argv[1]) as c: print(c.execute(sys.argv[2]).fetchone()[0])", url, sql],
               cwd=Path("/")).strip()


def start(cmd: list[str], *, cwd: Path, env: dict, log_path: Path) -> subprocess.Popen:
    with log_path.open("w") as log:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="govern-wheel-") as tmp:
        work = Path(tmp)
        step("building the wheel from a clean copy of the source")
        wheel = build_wheel(work)
        check_contents(wheel)

        step("installing it with its dependencies into a fresh venv")
        venv = work / "venv"
        run([sys.executable, "-m", "venv", str(venv)], cwd=work)
        python, govern = venv / "bin" / "python", venv / "bin" / "govern"
        run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=work)

        empty = work / "empty"
        empty.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVERN_", "PROMETHEUS_", "PYTHON"))}
        location = run([str(python), "-c", "import govern; print(govern.__file__)"], cwd=empty, env=env).strip()
        if not location.startswith(str(venv)):
            fail(f"govern was imported from {location}, not from the fresh venv")

        step("govern init --example in an empty folder (SQLite)")
        out = run([str(govern), "init", "--example"], cwd=empty, env=env)
        if "loaded the example organisation" not in out:
            fail(f"init --example did not load the example:\n{out}")
        step("govern playbook build and govern schema (package templates and schema)")
        run([str(govern), "playbook", "build", "--out", "playbook"], cwd=empty, env=env)
        if not (empty / "playbook" / "configuration.html").exists():
            fail("the playbook has no configuration page")
        schema = json.loads(run([str(govern), "schema"], cwd=empty, env=env))
        if schema.get("title") != "govern.yaml":
            fail("govern schema did not print the JSON Schema")

        database = f"govern_wheel_{uuid.uuid4().hex[:10]}"
        base = PG_ADMIN.rsplit("/", 1)[0]
        pg_env = {**env, "GOVERN_DATABASE_URL": f"{base}/{database}", "GOVERN_SECRET_KEY": "wheel-smoke-secret"}
        site = work / "site"
        site.mkdir()
        restored = f"{database}_restored"
        psql(python, f'CREATE DATABASE "{database}"')
        server = None
        background: list[subprocess.Popen] = []
        try:
            step(f"govern db upgrade and init --example on PostgreSQL ({database})")
            out = run([str(govern), "db", "upgrade"], cwd=site, env=pg_env)
            if "schema at revision" not in out:
                fail(f"db upgrade said:\n{out}")
            run([str(govern), "init", "--example"], cwd=site, env=pg_env)

            step("govern serve (gunicorn, 2 workers) and GET /healthz, /readyz and /metrics")
            port = free_port()
            log_path = work / "serve.log"
            server = start([str(govern), "serve", "--port", str(port), "--workers", "2"], cwd=site, env=pg_env,
                           log_path=log_path)
            status, body = 0, ""
            for _ in range(120):
                if server.poll() is not None:
                    fail(f"govern serve exited {server.returncode}:\n{log_path.read_text()}")
                try:
                    status, body = get(f"http://127.0.0.1:{port}/healthz")
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    time.sleep(0.25)
            if status != 200 or json.loads(body).get("status") != "ok":
                fail(f"/healthz answered {status}: {body}\n{log_path.read_text()}")
            status, body = get(f"http://127.0.0.1:{port}/readyz")
            if status != 200:
                fail(f"/readyz answered {status}: {body}")
            status, body = get(f"http://127.0.0.1:{port}/metrics")
            if status != 200 or "govern_http_requests_total" not in body or "govern_scheduler_leader" not in body:
                fail(f"/metrics answered {status}: {body[:500]}")
            log_text = log_path.read_text()
            if "development server" in log_text.lower():
                fail(f"govern serve printed the development server warning:\n{log_text}")
            stop(server)
            server = None

            step("the deployment recipe: two schedulers elect one leader; a delivery worker runs")
            for n in (1, 2):
                background.append(start([str(govern), "scheduler", "--name", f"smoke-{n}"], cwd=site, env=pg_env,
                                        log_path=work / f"scheduler-{n}.log"))
            background.append(start([str(govern), "worker"], cwd=site, env=pg_env, log_path=work / "worker.log"))
            rounds = "0"
            for _ in range(240):
                rounds = sql_value(python, pg_env["GOVERN_DATABASE_URL"],
                                   "SELECT count(*) FROM scheduler_instance WHERE name LIKE 'smoke-%'")
                if rounds == "2":
                    break
                time.sleep(0.25)
            leaders = sql_value(python, pg_env["GOVERN_DATABASE_URL"],
                                "SELECT count(*) FROM scheduler_instance WHERE leader")
            if rounds != "2" or leaders != "1":
                fail(f"two schedulers: {rounds} recorded a round, {leaders} lead (expected 2 and 1):\n"
                     + "\n".join((work / f"scheduler-{n}.log").read_text() for n in (1, 2)))
            for process in background:
                if process.poll() is not None:
                    fail(f"{process.args[1]} exited {process.returncode}")

            step("backup and restore: export --without-credentials, import into an empty database, audit verify")
            backup = work / "backup.json"
            run([str(govern), "export", "--without-credentials", "--out", str(backup)], cwd=site, env=pg_env)
            if '"password_hash": "' in backup.read_text():
                fail("the export without credentials holds password hashes")
            psql(python, f'CREATE DATABASE "{restored}"')
            restore_env = {**pg_env, "GOVERN_DATABASE_URL": f"{base}/{restored}"}
            run([str(govern), "import", str(backup)], cwd=site, env=restore_env)
            out = run([str(govern), "audit", "verify"], cwd=site, env=restore_env)
            if "audit chain intact" not in out:
                fail(f"the restored audit chain does not verify:\n{out}")
        finally:
            stop(server)
            for process in background:
                stop(process)
            psql(python, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            psql(python, f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
    print(f"wheel smoke test passed in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
