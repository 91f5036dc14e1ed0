"""Second stage: confirm each first-stage detection on the buffered wake audio.

The first stage runs at a lower threshold (it then misses fewer unusual voices but also fires on
similar-sounding phrases); every candidate is checked once, after a short delay so the whole
phrase is in the buffer, by a :class:`Verifier` (:mod:`edge_agent.listen.wake.verifier`: Whisper on
the buffer, or the other local engine). Either costs nothing while idle: work happens only on a
candidate.

The detection is reported ``delay_s`` after the first stage fired. A rejected candidate whose
first-stage score went on rising after the fire (a slow speaker: the low threshold fired early in
the phrase) is checked once more ``delay_s`` after the score's peak (at most ``max_wait_s`` after
the fire). A verifier's "not yet" (the audio stops on the keyword's first word: "Okay.") means the
phrase is still being said, so it is checked once more ``unfinished_wait_s`` later.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.listen.wake.base import Detection, WakeWordDetector, WindowedDetector

BUFFER_S = 2.5
"""Audio kept for the check: the phrase and the room around it."""
DELAY_S = 0.3
MAX_WAIT_S = 1.0
UNFINISHED_WAIT_S = 0.75
"""After a "not yet" (the transcript ends on the keyword's first word), check again this much later:
a first stage at a low threshold can fire on "okay" while "Nabu" is still to come."""


class Verifier(Protocol):
    def confirm(self, keyword: str, audio: np.ndarray) -> bool | None:
        """True: the keyword was said; False: it was not; None: not yet (the audio stops partway
        through the phrase), so ask again a little later."""

    def close(self) -> None: ...


class VerifiedDetector(WakeWordDetector):
    """A first stage whose detections are reported only once the verifier confirms them."""

    def __init__(self, first: WindowedDetector, verifier: Verifier, buffer_s: float = BUFFER_S,
                 delay_s: float = DELAY_S, max_wait_s: float = MAX_WAIT_S,
                 unfinished_wait_s: float = UNFINISHED_WAIT_S) -> None:
        self.first = first
        self.verifier = verifier
        self._unfinished_wait = int(unfinished_wait_s * SAMPLE_RATE)
        self._ring = np.zeros(int(buffer_s * SAMPLE_RATE), np.int16)
        self._delay = int(delay_s * SAMPLE_RATE)
        self._max_wait = max(self._delay, int(max_wait_s * SAMPLE_RATE))
        self._reset_state()

    def _reset_state(self) -> None:
        self._ring[:] = 0
        self._pos = 0
        self._pending: Detection | None = None
        self._index = 0
        self._peak = 0.0
        self._peak_at = 0
        self._since_fire = 0
        self._checks = 0
        self._recheck_at = 0
        self._waited = False
        self.candidates = 0
        self.confirmed = 0

    @property
    def frame_samples(self) -> int:
        return self.first.frame_samples

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.first.keywords

    def _write(self, frame: np.ndarray) -> None:
        n = len(self._ring)
        if len(frame) >= n:
            self._ring[:] = frame[-n:]
            self._pos = 0
            return
        end = self._pos + len(frame)
        if end <= n:
            self._ring[self._pos : end] = frame
        else:
            cut = n - self._pos
            self._ring[self._pos :] = frame[:cut]
            self._ring[: end - n] = frame[cut:]
        self._pos = end % n

    def buffered(self) -> np.ndarray:
        """The last ``buffer_s`` of audio, oldest first (a copy; only made for a candidate)."""
        return np.concatenate((self._ring[self._pos :], self._ring[: self._pos]))

    def process(self, frame: np.ndarray) -> Detection | None:
        self._write(frame)
        det = self.first.process(frame)
        if self._pending is None:
            if det is None:
                return None
            self.candidates += 1
            self._pending = det
            self._index = self.first.keywords.index(det.keyword)
            self._peak = det.score
            self._peak_at = 0
            self._since_fire = 0
            self._checks = 0
            self._recheck_at = 0
            self._waited = False
            return None
        self._since_fire += len(frame)
        score = float(self.first.last_scores[self._index])
        if score > self._peak:
            self._peak, self._peak_at = score, self._since_fire
        if self._checks == 0:
            # First check ``delay`` after the first stage fired (as soon as the phrase can be over).
            if self._since_fire < self._delay:
                return None
        elif self._recheck_at:
            if self._since_fire < self._recheck_at:
                return None  # after "not yet": a fixed wait
        elif self._since_fire - self._peak_at < self._delay and self._since_fire < self._max_wait:
            return None  # the second check: ``delay`` after the score's peak (or at ``max_wait``)
        self._checks += 1
        self._recheck_at = 0
        confirmed = self.verifier.confirm(self._pending.keyword, self.buffered())
        if confirmed is None and not self._waited:
            self._waited = True
            self._recheck_at = self._since_fire + self._unfinished_wait
            return None
        if confirmed:
            pending, self._pending = self._pending, None
            self.confirmed += 1
            # The first stage fires early at its low threshold; its peak over the phrase says more.
            return Detection(pending.keyword, self._peak)
        if self._checks == 1 and self._peak_at > 0 and not self._waited:
            # A low threshold fires early in the phrase; a slow speaker may not have finished it
            # ``delay`` later. The score still rose after the fire: check once more after its peak.
            return None
        self._pending = None
        return None

    def reset(self) -> None:
        self.first.reset()
        self._reset_state()

    def close(self) -> None:
        self.first.close()
        self.verifier.close()
