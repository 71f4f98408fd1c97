"""What a running process holds: its configuration, database and integration adapters (handed in at start-up)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govern.settings import Config
from govern.db import Database


@dataclass
class Runtime:
    config: Config
    db: Database
    # Adapters built at start-up by the composition layer; None means the integration is disabled.
    adapters: dict[str, Any] = field(default_factory=dict)
    background: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for service in reversed(self.background):
            stop = getattr(service, "stop", None) or getattr(service, "shutdown", None)
            if stop:
                stop()
        self.background.clear()
