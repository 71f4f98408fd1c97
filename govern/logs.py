"""Log output for the processes `govern` starts: plain text for people, or one JSON object per line for collectors.

Chosen with GOVERN_LOG_FORMAT (`text`, the default, or `json`) and GOVERN_LOG_LEVEL (default INFO); `govern serve`
hands the same configuration to gunicorn, so its own messages come out in the same shape.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import os
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


def log_settings(environ: dict[str, str] | None = None) -> tuple[str, str]:
    """(format, level) from the environment; an unknown format or level is refused with what is allowed."""
    env = os.environ if environ is None else environ
    fmt = env.get("GOVERN_LOG_FORMAT", "text").strip().lower() or "text"
    level = env.get("GOVERN_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if fmt not in FORMATS:
        raise ValueError(f"GOVERN_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if level not in logging.getLevelNamesMapping():
        raise ValueError(f"GOVERN_LOG_LEVEL must be a level such as INFO or DEBUG, not {level!r}")
    return fmt, level


def dict_config(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    """A logging.config dictionary (also given to gunicorn as `logconfig_dict`)."""
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
        },
    }


def configure(fmt: str = "text", level: str = "INFO") -> None:
    logging.config.dictConfig(dict_config(fmt, level))
