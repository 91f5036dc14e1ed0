"""The listener as the daemon runs it: :class:`BeatingListener` (the listener thread, with a
heartbeat per processed hop) and :class:`ListenerAdapter` (what the conversation tells it)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.listen.hint import Hint
from edge_agent.listen.listener import Listener, ListenerCore


class BeatingListener(Listener):
    """The listener, plus a heartbeat after every step that processed audio (the watchdog's
    evidence that frames flow: no audio, no beat)."""

    def __init__(self, core: ListenerCore, ring: RingBuffer, heartbeat: Callable[[], None]) -> None:
        super().__init__(core, ring)
        self._beat = heartbeat

    def step(self) -> int:
        n = super().step()
        if n:
            self._beat()
        return n


class ListenerAdapter:
    """The conversation's :class:`~edge_agent.agent.ListenerControl` over the listener."""

    def __init__(self, listener: Listener, pre_roll_s: float = 0.3) -> None:
        self.listener = listener
        self.pre_roll_s = pre_roll_s

    def set_playback_active(self, active: bool) -> None:
        self.listener.set_playback_active(active)

    def listen(self, timeout_s: float | None) -> None:
        self.listener.start_listening(timeout_s)  # the follow-up window's own timeout

    def stop_listening(self) -> None:
        self.listener.stop_listening()

    def utterance(self, start_t: float, end_t: float) -> np.ndarray:
        return self.listener.audio_between(max(0.0, start_t - self.pre_roll_s), end_t)

    def set_semantic_hint(self, p: float | Hint | None, speech_end_t: float | None = None,
                          confidence: float = 1.0) -> None:
        self.listener.set_semantic_hint(p, speech_end_t, confidence)
