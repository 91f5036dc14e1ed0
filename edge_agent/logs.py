"""Logging: one line per record to stderr (journald keeps it), as text or JSON; secrets never logged."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_SECRET = re.compile(r"(?i)(password|api[_-]?key|access[_-]?key|token|secret)(\"?\s*[:=]\s*\"?)([^\s\",}]+)")


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(f"{record.levelname.lower()} {record.name}: {record.getMessage()}" + (
            " | " + self.formatException(record.exc_info).replace("\n", " | ") if record.exc_info else ""))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "t": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure the root logger once. ``level``/``fmt`` None means: from the environment or defaults."""
    import os

    level = level or os.environ.get("EDGE_AGENT_LOGGING__LEVEL", "info")
    fmt = fmt or os.environ.get("EDGE_AGENT_LOGGING__FORMAT", "text")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
