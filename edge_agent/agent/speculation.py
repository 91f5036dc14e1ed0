"""Speculation: the reply starts when silence begins, before the end of the turn is known.

At ``speech_end`` the conversation starts a reply that is not yet confirmed (it transcribes, thinks
and synthesizes, but is neither heard nor published). At ``turn_end`` :meth:`Speculation.promote`
hands it over if the user said nothing after it began; new speech (``speech_start``), a wake word
or a cancel drops it (:meth:`Speculation.drop`). Most turns so gain the end-of-turn wait.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from edge_agent.agent.reply import Reply

SAME_SPEECH_S = 0.05
"""How far (s) the turn's speech may differ from the speculation's and still be the same speech."""


@dataclass
class Speculative:
    """A reply started at a speech end, over the speech from ``start_t`` to ``end_t``."""

    start_t: float
    end_t: float
    reply: Reply
    task: asyncio.Task[None]
    t0: float
    """Loop time it started."""


class Speculation:
    """At most one speculative reply at a time."""

    def __init__(self) -> None:
        self._current: Speculative | None = None

    @property
    def active(self) -> Speculative | None:
        return self._current

    def start(self, speculative: Speculative) -> None:
        self.drop()
        self._current = speculative

    def drop(self) -> None:
        """The user went on (or the turn was cancelled): throw the work away."""
        if self._current is not None:
            self._current.task.cancel()
            self._current = None

    def promote(self, speech_start_t: float, last_speech_t: float, now: float) -> Speculative | None:
        """The turn is over: the speculation, if it covered all of the turn's speech (its reply then
        gets a ``head_start`` stage); else None, and any speculation is dropped."""
        spec, self._current = self._current, None
        if spec is None:
            return None
        if abs(spec.start_t - speech_start_t) < SAME_SPEECH_S and last_speech_t <= spec.end_t + SAME_SPEECH_S:
            spec.reply.stages["head_start"] = round((now - spec.t0) * 1000, 1)
            return spec
        spec.task.cancel()
        return None
