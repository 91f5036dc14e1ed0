"""Logging: one line per record to stderr (journald keeps it), as text or JSON; secrets never logged.

* One record is one line: newlines in messages and tracebacks are folded (`` | ``), so journald and
  ``grep`` see whole records.
* Under systemd (``$JOURNAL_STREAM`` names our stderr) lines carry a ``<N>`` syslog priority prefix
  (journald strips it and files the record at that level, so ``journalctl -p warning -u edge-agent``
  works) and text lines no timestamp (journald adds its own). Elsewhere text lines start with a UTC
  timestamp.
* Secrets: every value of a ``SecretStr`` setting is registered when the settings are loaded
  (:func:`register_secrets`) and replaced by ``***`` wherever it appears in a record, including
  exceptions and arguments; ``key=value`` shapes (password=, api_key: , Bearer, user:pass@) are
  masked even for values the settings never saw.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

_KEY_VALUE = re.compile(
    r"(?i)(password|passwd|api[_-]?key|access[_-]?key|token|secret)(\"?'?\s*[:=]\s*\"?'?)([^\s\"',}]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_URL_USERINFO = re.compile(r"(://[^/\s:@]+):[^/\s@]+@")
MASK = "***"
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words

_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()

# syslog priorities journald understands as a line prefix (sd-daemon(3)).
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

NOISY_LIBRARIES = ("httpx", "httpcore", "urllib3", "asyncio", "paho", "filelock", "huggingface_hub")


def register_secret(value: str | None) -> None:
    """Never log ``value`` (e.g. a password read from a file or the environment)."""
    global _secrets
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _secrets_lock:
        if value not in _secrets:
            # Longest first, so a secret containing another is masked whole.
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def register_secrets(settings: Any) -> None:
    """Register every ``SecretStr`` value found in a settings object (pydantic models, lists, dicts)."""
    for value in _secret_values(settings):
        register_secret(value)


def _secret_values(node: Any) -> Iterable[str]:
    from pydantic import BaseModel, SecretStr

    if isinstance(node, SecretStr):
        yield node.get_secret_value()
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _secret_values(getattr(node, name, None))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _secret_values(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _secret_values(item)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _URL_USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", " | ")


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not lose the record
        return f"{record.msg!r} {record.args!r}"


class TextFormatter(logging.Formatter):
    """``[<prio>]`` or ``<UTC time> `` then ``level logger: message``; one line."""

    def __init__(self, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()} {record.name}: {_message(record)}"
        if record.exc_info:
            text += " | " + self.formatException(record.exc_info)
        text = _one_line(redact(text))
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z {text}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: t (unix seconds), level, logger, msg, and exc when there is one.
    Under journald the line starts with the ``<N>`` priority, which journald strips."""

    def __init__(self, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = self._json(record)
        return f"<{_PRIORITY.get(record.levelno, 6)}>{line}" if self.journal else line

    def _json(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "t": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(_message(record)),
        }
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def under_journald() -> bool:
    """True when stderr is connected to journald ($JOURNAL_STREAM is ``device:inode`` of our stderr)."""
    stream = os.environ.get("JOURNAL_STREAM")
    if not stream:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure the root logger (call again to change). ``level``/``fmt`` None means: from the
    environment (``EDGE_AGENT_LOGGING__LEVEL``/``__FORMAT``) or the defaults (info, text)."""
    level = (level or os.environ.get("EDGE_AGENT_LOGGING__LEVEL") or "info").upper()
    fmt = (fmt or os.environ.get("EDGE_AGENT_LOGGING__FORMAT") or "text").lower()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        level = "INFO"
    handler = logging.StreamHandler(sys.stderr)
    journal = under_journald()
    handler.setFormatter(JsonFormatter(journal) if fmt == "json" else TextFormatter(journal))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter (a line per HTTP request) only when debugging.
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    logging.captureWarnings(True)


def apply_settings(settings: Any, level: str | None = None, fmt: str | None = None) -> None:
    """After the config is loaded: its ``logging`` section, unless the command line said otherwise."""
    register_secrets(settings)
    setup_logging(level or str(settings.logging.level), fmt or str(settings.logging.format))
