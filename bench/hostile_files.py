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
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
url, instance, path = sys.argv[1:4]
db = Database(url)
app = create_app(Config(database_url=url, instance_path=Path(instance), secret_key="bench", run_scheduler=False,
                        run_worker=False), db=db)
with db.session_scope() as s:
    secret = create_token(s, load_actor(s, "ana"), "bench").secret
body = json.dumps({"yaml": open(path, "rb").read().decode("utf-8", "replace"), "dry_run": True}).encode()
client = app.test_client()
before = rss()
started = time.perf_counter()
answer = client.post("/api/v1/config/apply", data=body, headers={"Authorization": "Bearer " + secret,
                                                                   "Content-Type": "application/json"})
print(json.dumps({"status": answer.status_code, "seconds": time.perf_counter() - started, "before": before,
                  "after": rss()}))
"""

# `govern apply FILE` in its own process, timed from after the imports (the interpreter's start-up is not the refusal).
CLI_ONE = r"""
import json, resource, sys, time
from govern.cli.root import cli
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
before = rss()
started = time.perf_counter()
try:
    cli.main(sys.argv[1:], prog_name="govern", standalone_mode=True)
except SystemExit as exc:
    code = exc.code
print(json.dumps({"status": code, "seconds": time.perf_counter() - started, "before": before, "after": rss()}))
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
        print("seconds: the command or request alone; MB: the process's peak resident size, +MB: what the refusal "
              "added to the peak the process had before it")
        print(f"{'case':32} {'bytes':>11} | {'cli s':>6} {'MB':>4} {'+MB':>4} {'exit':>4} {'×base':>6} | "
              f"{'http s':>6} {'MB':>4} {'+MB':>4} {'code':>4} {'×base':>6}")
        base: dict[str, float] = {}
        worst = (0.0, 0)
        for name, path in files.items():
            args = ["apply", str(path)] + (["--dry-run"] if name.startswith(("baseline", "huge")) else [])
            row = []
            for via, cmd in (("cli", [sys.executable, "-c", CLI_ONE, *args]),
                             ("http", [sys.executable, "-c", HTTP_ONE, url, str(tmp_path / "inst"), str(path)])):
                _, peak, _, output = run(cmd, env)
                try:
                    answer = json.loads(output.strip().splitlines()[-1])
                except (ValueError, IndexError):
                    answer = {"status": "?", "seconds": float("nan"), "before": 0, "after": 0}
                    print("   unexpected:", output[-300:])
                base.setdefault(via, answer["seconds"])
                added = answer["after"] - answer["before"]
                if not name.startswith(("baseline", "huge")):
                    # The http harness itself holds the body it sends (50 MB, several times over) before the
                    # request: there the refusal's own memory is what it added to the process's peak.
                    worst = (max(worst[0], answer["seconds"]), max(worst[1], peak if via == "cli" else added))
                row.append(f"{answer['seconds']:6.3f} {peak:4d} {added:4d} {answer['status']!s:>4} "
                           f"{answer['seconds'] / base[via]:6.2f}")
            print(f"{name:32} {path.stat().st_size:>11,} | {row[0]} | {row[1]}")
        print(f"worst refusal: {worst[0]:.3f} s; {worst[1]} MB: the cli process's whole peak, or what a request "
              f"added to the http process's (goal: within 2 s and 200 MB)")


if __name__ == "__main__":
    main()
