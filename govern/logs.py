"""Log output for the processes `govern` starts: plain text for people, or one JSON object per line for collectors.

Chosen with GOVERN_LOG_FORMAT (`text`, the default, or `json`) and GOVERN_LOG_LEVEL (default INFO); `govern serve`
hands the same configuration to gunicorn, so its own messages come out in the same shape. The libraries' loggers
(LIBRARY_LOGGERS: the scheduler's per-run lines, alembic's at every start, transitions' per move, the development
server's per request ...) are held at GOVERN_LIBRARY_LOG_LEVEL (default WARNING) whatever the level of our own, so a
served instance at INFO writes only what govern itself has to say. The environment is read by the command line
(govern serve's options), never here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, process, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": record.process,
            "thread": record.threadName,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# The libraries whose INFO lines are routine (per job run, per migration step, per state change, per request).
LIBRARY_LOGGERS = ("apscheduler", "alembic", "transitions", "urllib3", "werkzeug", "filelock", "slack_sdk", "jira",
                   "requests_oauthlib", "sqlalchemy")
LIBRARY_LEVEL = "WARNING"


def check_level(level: str, name: str = "GOVERN_LOG_LEVEL") -> str:
    """The level in upper case; an unknown one refused naming the setting and what is allowed."""
    upper = (level or "").strip().upper()
    if upper not in logging.getLevelNamesMapping():
        raise ValueError(f"{name} must be a level such as INFO or WARNING, not {level!r}")
    return upper


def dict_config(fmt: str = "text", level: str = "INFO", library_level: str = LIBRARY_LEVEL, *,
                access_log: bool = False) -> dict[str, Any]:
    """A logging.config dictionary (also given to gunicorn as `logconfig_dict`). `access_log` keeps the development
    server's per-request lines (the `werkzeug` logger at INFO) when `govern serve --dev --access-log` asks for them."""
    if fmt not in FORMATS:
        raise ValueError(f"GOVERN_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    level, library_level = check_level(level), check_level(library_level, "GOVERN_LIBRARY_LOG_LEVEL")
    libraries = {name: {"level": library_level} for name in LIBRARY_LOGGERS}
    if access_log:
        libraries["werkzeug"] = {"level": "INFO"}
    formatter = {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    handler = {"class": "logging.StreamHandler", "formatter": "govern", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"govern": formatter},
        "handlers": {"console": handler},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
            **libraries,
        },
    }


def configure(fmt: str = "text", level: str = "INFO", library_level: str = LIBRARY_LEVEL, *,
              access_log: bool = False) -> None:
    logging.config.dictConfig(dict_config(fmt, level, library_level, access_log=access_log))
