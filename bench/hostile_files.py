"""Benchmark: how fast, and in how much memory, each hostile govern.yaml is refused (issue 30, part 3; goal: each
within 2 s and 200 MB).

Every case runs in its own process, so the peak resident size (`ru_maxrss` of that process, from `os.wait4`) is the
refusal's own:
- `cli`: `govern apply FILE` (against a SQLite database made once with `govern init --example`), wall time of the
  whole command, start-up included;
- `http`: one process that builds the app on the same database and sends the file to `POST /api/v1/config/apply`
  through the test client; the time is the request's alone, the memory the process's peak.
The baseline, measured in the same run the same ways, is the valid example file (`--dry-run`); ratios are against it.
A "huge legal" case (a valid document near the size limit: 2,000 people and 400 journeys) shows the bounded work after
parsing.

    python bench/hostile_files.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))


HTTP_ONE = r"""
import json, resource, sys, time
from pathlib import Path
from govern.settings import Config
from govern.db import Database
from govern.app import create_app
from govern.services.common import load_actor
from govern.services.people import create_token
url, instance, path = sys.argv[1:4]
db = Database(url)
app = create_app(Config(database_url=url, instance_path=Path(instance), secret_key="bench", run_scheduler=False,
                        run_worker=False), db=db)
with db.session_scope() as s:
    secret = create_token(s, load_actor(s, "ana"), "bench").secret
data = open(path, "rb").read()
body = json.dumps({"yaml": data.decode("utf-8", "replace"), "dry_run": True})
client = app.test_client()
started = time.perf_counter()
answer = client.post("/api/v1/config/apply", data=body, headers={"Authorization": "Bearer " + secret,
                                                                   "Content-Type": "application/json"})
seconds = time.perf_counter() - started
print(json.dumps({"status": answer.status_code, "seconds": seconds,
                  "message": (answer.get_json() or {}).get("error", {}).get("message", "")[:80]}))
"""


def huge_legal(example: str) -> str:
    """A valid organisation file near the 2,000,000-byte limit: the example plus many people and journeys."""
    people = "".join(f"  - {{handle: p{i:05d}, name: Person number {i}, email: p{i}@example.org}}\n"
                     for i in range(2000))
    journeys = "".join(
        f"  - key: extra-{i}\n    name: Extra journey {i}\n    level: macro\n    owner: p{i:05d}\n    stages:\n"
        + "".join(f"      - key: s{j}\n        name: Stage {j}\n        steps:\n"
                  + "".join(f"          - {{key: st{j}-{k}, name: Step {k} of stage {j}}}\n" for k in range(4))
                  for j in range(4))
        for i in range(400))
    text = example.replace("people:\n", "people:\n" + people, 1).replace("journeys:\n", "journeys:\n" + journeys, 1)
    return text


def run(cmd: list[str], env: dict) -> tuple[float, int, int, str]:
    """(wall seconds, peak RSS in MB, exit code, output) of one child process (output through a file: a pipe would
    fill up with a long dry-run plan while we wait)."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        output = out.read().decode(errors="replace")
    return seconds, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status), output


def write_files(folder: Path) -> None:
    from tests.security.hostile import EXAMPLE, cases

    contents = {"baseline: the example (valid)": EXAMPLE, "huge legal document": huge_legal(EXAMPLE),
                **{n: c for n, (c, _, _) in cases().items()}}
    for i, content in enumerate(contents.values()):
        (folder / f"case{i}.yaml").write_bytes(content if isinstance(content, bytes) else content.encode())
    print(json.dumps(list(contents)))


def main() -> None:
    if sys.argv[1:2] == ["--write"]:
        write_files(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        url = f"sqlite:///{tmp_path / 'bench.db'}"
        env = {**os.environ, "GOVERN_DATABASE_URL": url, "GOVERN_INSTANCE_PATH": str(tmp_path / "instance")}
        subprocess.run([sys.executable, "-m", "govern.cli", "init", "--example"], env=env, check=True,
                       capture_output=True)
        # The files are written by a child process: a process forked from a parent holding 50 MB strings would
        # start with the parent's resident size as its own peak (Linux keeps ru_maxrss across fork until exec).
        names = json.loads(subprocess.run([sys.executable, __file__, "--write", str(tmp_path)], check=True,
                                          capture_output=True, text=True).stdout)
        files = {name: tmp_path / f"case{i}.yaml" for i, name in enumerate(names)}
        print(f"{'case':34} {'bytes':>11} | {'cli s':>6} {'MB':>5} {'exit':>4} {'×base':>6} | "
              f"{'http s':>7} {'MB':>5} {'code':>4} {'×base':>6}")
        base_cli = base_http = None
        worst = (0.0, 0)
        for name, path in files.items():
            args = ["apply", str(path)] + (["--dry-run"] if name.startswith(("baseline", "huge")) else [])
            cli_s, cli_mb, code, output = run([sys.executable, "-m", "govern.cli", *args], env)
            _, http_mb, _, http_out = run([sys.executable, "-c", HTTP_ONE, url, str(tmp_path / "inst"),
                                                      str(path)], env)
            try:
                http = json.loads(http_out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                http = {"status": "?", "seconds": float("nan")}
            if base_cli is None:
                base_cli, base_http = cli_s, http["seconds"]
            if not name.startswith("baseline"):
                worst = (max(worst[0], cli_s, http["seconds"]), max(worst[1], cli_mb, http_mb))
            print(f"{name:34} {path.stat().st_size:>11,} | {cli_s:6.2f} {cli_mb:5d} {code:>4} {cli_s / base_cli:6.2f} | "
                  f"{http['seconds']:7.3f} {http_mb:5d} {http['status']:>4} {http['seconds'] / base_http:6.2f}")
            if code not in (0, 2):
                print("   unexpected:", output[-300:])
        print(f"worst refusal: {worst[0]:.2f} s, {worst[1]} MB peak RSS (goal: within 2 s and 200 MB; the cli "
              f"column includes the interpreter's start-up, the baseline's {base_cli:.2f} s)")


if __name__ == "__main__":
    main()
