"""``wake_eval``'s scoring on a scripted detector (no audio models)."""

from __future__ import annotations

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.bench.wake_eval import HOP, measure_draws
from edge_agent.listen.wake import Detection, WakeWordDetector
from edge_agent.speechgen import Segment, Utterance


class FiresAt(WakeWordDetector):
    """Fires once ``at`` seconds into each clip, if ``at`` is set for the clip's first sample value."""

    def __init__(self, at: dict[int, float]) -> None:
        self.at = at
        self.pos = 0
        self.clip = 0

    @property
    def frame_samples(self) -> int:
        return HOP

    @property
    def keywords(self) -> tuple[str, ...]:
        return ("okay_nabu",)

    def process(self, frame: np.ndarray) -> Detection | None:
        if self.pos == 0:
            self.clip = int(frame[0])
        self.pos += len(frame)
        t = self.at.get(self.clip)
        if t is not None and self.pos - len(frame) < t * SAMPLE_RATE <= self.pos:
            return Detection("okay_nabu", 0.9)
        return None

    def reset(self) -> None:
        self.pos = 0


def clip(marker: int, text: str, kind: str, voice: str) -> Utterance:
    samples = np.full(4 * SAMPLE_RATE, marker, np.int16)
    return Utterance(samples, text, kind, voice, "babble", 20.0, "okay_nabu", (Segment(text, 1.0, 1.8),), 1.8)


def test_draws_are_counted_per_phrase_and_voice_and_a_late_wake_is_a_miss() -> None:
    clips = [clip(1, "Okay Nabu.", "wake", "a"), clip(2, "Okay Nabu.", "wake", "a"),  # on time; never
             clip(3, "Okay Nabu.", "wake", "b"),  # 2 s after the phrase: too late to count
             clip(4, "Obey Nabu.", "confusable", "a"), clip(5, "Obey Nabu.", "confusable", "a")]
    rates = measure_draws(FiresAt({1: 2.0, 3: 3.9, 4: 0.5}), "okay_nabu", clips)
    assert rates["Okay Nabu. [a babble@20]"] == {"accepted": 1, "draws": 2, "rate": 0.5}
    assert rates["Okay Nabu. [b babble@20]"]["accepted"] == 0
    assert rates["Obey Nabu. [a babble@20]"] == {"accepted": 1, "draws": 2, "rate": 0.5}  # any time counts
