"""Log output: plain text by default, one JSON object per line with HELMFORGE_LOG_FORMAT=json."""

from __future__ import annotations

__all__ = ["JsonFormatter", "configure_logging"]

import json
import logging
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, process id, message, and the
    ``http`` extra."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,  # which worker, with serve --workers N
            "message": record.getMessage(),
        }
        http = getattr(record, "http", None)
        if http is not None:
            entry["http"] = http
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: str) -> None:
    """Send helmforge's logs to stderr in ``log_format`` (``text`` or ``json``), once."""
    logger = logging.getLogger("helmforge")
    for handler in list(logger.handlers):
        if getattr(handler, "helmforge", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.helmforge = True  # type: ignore[attr-defined]
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
