"""How `govern serve` runs the app: under gunicorn by default, Werkzeug's development server only with `--dev`.

Under gunicorn every web worker process builds its own app (nothing is preloaded in the master, so no database
connection is ever shared across a fork) and, unless switched off, runs the ritual scheduler and an outbox delivery
worker in background threads. That is safe with any number of processes: the scheduler acts only while it holds the
leader lock, and delivery workers claim messages with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gunicorn.app.base import BaseApplication
from werkzeug.serving import run_simple

from govern.app import create_app
from govern.settings import Config
from govern.logs import configure, dict_config

log = logging.getLogger(__name__)

# The background services a web process may run, as (module with `start_in_background(runtime)`, label).
BACKGROUND_SERVICES = {
    "scheduler": ("govern.rituals.scheduler", "ritual scheduler"),
    "worker": ("govern.integrations.worker", "outbox worker"),
}


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 2
    threads: int = 4
    timeout: int = 60
    scheduler: bool = True
    worker: bool = True
    access_log: bool = False
    log_format: str = "text"
    log_level: str = "INFO"
    library_log_level: str = "WARNING"


def wanted_services(config: Config, options: ServeOptions) -> list[str]:
    """Which background services this server runs: asked for on the command line and not switched off by env."""
    wanted = []
    if options.scheduler and config.run_scheduler:
        wanted.append("scheduler")
    if options.worker and config.run_worker:
        wanted.append("worker")
    return wanted


def start_background(runtime: Any, names: list[str], say: Callable[[str], None] = log.info) -> list[str]:
    """Start the named background services in this process; returns the labels of those now running."""
    # Imported on call, not for a cycle: telemetry loads prometheus-client, which must not load before
    # prepare_multiprocess_metrics has set PROMETHEUS_MULTIPROC_DIR.
    from govern import telemetry

    telemetry.install()
    started = []
    for name in names:
        module, label = BACKGROUND_SERVICES[name]
        service = importlib.import_module(module).start_in_background(runtime)
        if service is None:
            say(f"  {label}: not started (nothing to do: no integration is enabled)")
            continue
        runtime.background.append(service)
        started.append(label)
        say(f"  {label}: running")
    return started


def metrics_folder(config: Config) -> Path:
    """Where gunicorn's worker processes keep their Prometheus samples (prometheus-client's multi-process mode)."""
    return config.instance_path / f"metrics-{os.getpid()}"


def prepare_multiprocess_metrics(config: Config) -> Path | None:
    """Point prometheus-client at an empty per-server folder before any worker starts (unless the operator chose one).

    This must happen before prometheus-client is first imported in the processes that count; the app imports it only
    when it builds its metrics, which is after the fork.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        return None
    folder = metrics_folder(config)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder


def serve_production(config: Config, options: ServeOptions) -> None:
    """Run the app under gunicorn (gthread workers) until stopped."""
    services = wanted_services(config, options)
    own_metrics_folder = prepare_multiprocess_metrics(config)
    master_pid = os.getpid()

    def post_worker_init(worker) -> None:
        runtime = worker.wsgi.extensions["govern"]
        start_background(runtime, services, say=lambda text: worker.log.info("worker %s:%s", worker.pid, text))

    def worker_exit(_server, worker) -> None:
        app = getattr(worker, "wsgi", None)
        if app is not None:
            app.extensions["govern"].stop()

    def child_exit(_server, worker) -> None:
        from prometheus_client import multiprocess  # on call, not for a cycle: see prepare_multiprocess_metrics

        multiprocess.mark_process_dead(worker.pid)

    class GovernServer(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"{options.host}:{options.port}",
                "workers": options.workers,
                "threads": options.threads,
                "worker_class": "gthread",
                "timeout": options.timeout,
                "graceful_timeout": 20,
                "preload_app": False,
                "accesslog": "-" if options.access_log else None,
                "errorlog": "-",
                "logconfig_dict": dict_config(options.log_format, options.log_level, options.library_log_level),
                "proc_name": "govern",
                "post_worker_init": post_worker_init,
                "worker_exit": worker_exit,
                "child_exit": child_exit,
            }
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 27+: no shared socket in $HOME
                settings["control_socket_disable"] = True
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(config)

    try:
        GovernServer().run()
    finally:
        # A worker leaves gunicorn by SystemExit up through this same stack (it was forked inside run()): only the
        # master may remove the folder, or an exiting worker pulls it from under a sibling still recording metrics.
        if own_metrics_folder is not None and os.getpid() == master_pid:
            shutil.rmtree(own_metrics_folder, ignore_errors=True)


def serve_development(config: Config, options: ServeOptions, say: Callable[[str], None]) -> None:
    """Werkzeug's development server in this one process (threaded, no reloader)."""
    configure(options.log_format, options.log_level, options.library_log_level, access_log=options.access_log)
    app = create_app(config)
    runtime = app.extensions["govern"]
    start_background(runtime, wanted_services(config, options), say=say)
    try:
        run_simple(options.host, options.port, app, threaded=True, use_reloader=False)
    finally:
        runtime.stop()
