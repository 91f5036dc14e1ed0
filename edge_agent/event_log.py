"""``--events``: the typed events as JSON lines, one object per event, to stdout (``-``) or a file.

One writer for every command that has the flag (``run``, ``ask``, ``listen``), so their lines look the
same: the event's own ``to_dict()`` (``type`` first), after any fields the command puts in front
(``listen`` adds the ``file`` the event came from). Thread-safe: the bus calls subscribers on any
thread. A reader that goes away (a closed pipe) does not stop the agent."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from edge_agent.errors import UsageError
from edge_agent.events import Event


class EventWriter:
    def __init__(self, target: str, prefix: Callable[[], dict[str, Any]] | None = None) -> None:
        """``target``: ``-`` for stdout, or a file path (created or truncated); ``prefix()``: fields
        written before each event's own."""
        self._own = target != "-"
        try:
            self._out: IO[str] = sys.stdout if target == "-" else open(target, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write events to {target}: {exc.strerror}") from None
        self._prefix = prefix
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        fields = {**self._prefix(), **event.to_dict()} if self._prefix is not None else event.to_dict()
        line = json.dumps(fields, ensure_ascii=False, default=str)
        with self._lock:
            try:
                self._out.write(line + "\n")
                self._out.flush()
            except (BrokenPipeError, ValueError):  # the reader left, or stdout is closed
                pass

    def close(self) -> None:
        if self._own:
            self._out.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
