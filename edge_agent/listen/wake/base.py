"""What every wake word engine shares: the detector interface, the score-engine protocol and the
decision rule.

Each engine (microWakeWord, openWakeWord, Porcupine) is a :class:`ScoreEngine`: it consumes
fixed chunks of its own size and reports one probability per keyword per step. The decision rule
is the same for all of them and lives here in :class:`WindowedDetector`: a sliding-window mean of
the step probabilities, a threshold, and a refractory period counted in audio time (so the
logic is clock-free and testable with fake engines). The listener may feed any hop length: a
preallocated accumulator cuts it into the engine's chunks without allocating per frame.

An optional second stage (:mod:`edge_agent.listen.wake.verified`) confirms each detection on the
buffered wake audio; :mod:`edge_agent.listen.wake.factory` puts the pieces together from the settings.
Nothing here imports an engine, the verifier or the factory: they all import this.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.errors import WakeWordError


@dataclass(frozen=True)
class Detection:
    keyword: str
    """The keyword's name (built-in name, or the custom model file's stem)."""
    score: float
    """The window-mean probability that fired (Porcupine: 1.0)."""


class WakeWordDetector(ABC):
    """``process(frame)`` takes int16 mono 16 kHz audio of any length and returns a detection
    when a keyword ended inside it."""

    @property
    @abstractmethod
    def frame_samples(self) -> int:
        """The hop this detector works in natively (any length is accepted)."""

    @property
    @abstractmethod
    def keywords(self) -> tuple[str, ...]: ...

    @abstractmethod
    def process(self, frame: np.ndarray) -> Detection | None: ...

    @abstractmethod
    def reset(self) -> None:
        """Forget all audio and state (e.g. after the conversation returns to idle)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources."""


class ScoreEngine(Protocol):
    """What an engine must do for :class:`WindowedDetector`."""

    keywords: tuple[str, ...]
    chunk_samples: int
    """Samples consumed per :meth:`step`."""
    default_threshold: tuple[float, ...]
    """Per keyword, used when the settings give none."""
    default_window: int

    def step(self, chunk: np.ndarray, out: np.ndarray) -> int:
        """Consume exactly ``chunk_samples``; write up to ``len(out)`` rows of per-keyword
        probabilities (shape ``(rows, len(keywords))``) and return how many were written."""
        ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class WindowedDetector(WakeWordDetector):
    """The shared decision rule over a :class:`ScoreEngine` (see the module docstring)."""

    MAX_ROWS = 8

    def __init__(self, engine: ScoreEngine, threshold: float | None = None, window: int | None = None,
                 refractory_s: float = 2.0) -> None:
        self.engine = engine
        k = len(engine.keywords)
        self.window = window if window is not None else engine.default_window
        if threshold is not None:
            self.thresholds = np.full(k, threshold, np.float64)
        else:
            self.thresholds = np.asarray(engine.default_threshold, np.float64)
        self.refractory_samples = int(round(refractory_s * SAMPLE_RATE))
        self._acc = np.zeros(engine.chunk_samples, np.int16)
        self._fill = 0
        self._rows = np.zeros((self.MAX_ROWS, k), np.float32)
        self._hist = np.zeros((self.window, k), np.float64)
        self._sum = np.zeros(k, np.float64)
        self._mean = np.zeros(k, np.float64)
        self._margin = np.zeros(k, np.float64)
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._fill = 0
        self._hist[:] = 0.0
        self._sum[:] = 0.0
        self._count = 0
        self._pos = 0
        self._samples = 0
        self._last_fire = -(1 << 62)
        self.last_scores = np.zeros(len(self.engine.keywords), np.float64)
        """Window means after the latest step (for debugging and the benchmark)."""
        self.peak_scores = np.zeros(len(self.engine.keywords), np.float64)
        """Highest window mean seen since the last reset."""

    @property
    def frame_samples(self) -> int:
        return self.engine.chunk_samples

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.engine.keywords

    @property
    def samples_seen(self) -> int:
        return self._samples

    def process(self, frame: np.ndarray) -> Detection | None:
        best: Detection | None = None
        n = len(frame)
        i = 0
        chunk = len(self._acc)
        while i < n:
            take = min(chunk - self._fill, n - i)
            self._acc[self._fill : self._fill + take] = frame[i : i + take]
            self._fill += take
            i += take
            if self._fill < chunk:
                break
            self._fill = 0
            self._samples += chunk
            rows = self.engine.step(self._acc, self._rows)
            for r in range(rows):
                det = self._push(self._rows[r])
                if det is not None and (best is None or det.score > best.score):
                    best = det
        return best

    def _push(self, probs: np.ndarray) -> Detection | None:
        # Running sum over a ring of the last `window` steps: no allocation per step.
        self._sum -= self._hist[self._pos]
        self._hist[self._pos] = probs
        self._sum += self._hist[self._pos]
        self._pos = (self._pos + 1) % self.window
        self._count = min(self._count + 1, self.window)
        if self._count < self.window:
            return None
        np.divide(self._sum, self.window, out=self._mean)
        self.last_scores[:] = self._mean
        np.maximum(self.peak_scores, self._mean, out=self.peak_scores)
        np.subtract(self._mean, self.thresholds, out=self._margin)
        k = int(np.argmax(self._margin))
        if self._mean[k] < self.thresholds[k]:
            return None
        if self._samples - self._last_fire < self.refractory_samples:
            return None
        self._last_fire = self._samples
        return Detection(self.engine.keywords[k], float(self._mean[k]))

    def reset(self) -> None:
        self.engine.reset()
        self._reset_counters()

    def close(self) -> None:
        self.engine.close()


# --- keywords -------------------------------------------------------------------------------------


def is_model_path(keyword: str) -> bool:
    return "/" in keyword or keyword.endswith((".tflite", ".json", ".ppn")) or keyword.startswith("~")


def custom_model_file(keyword: str, engine: str, suffixes: tuple[str, ...]) -> Path:
    path = Path(keyword).expanduser()
    if path.suffix not in suffixes:
        raise WakeWordError(
            f"wake.keywords: {keyword!r} is not a {engine} model file (expected {' or '.join(suffixes)})")
    if not path.is_file():
        raise WakeWordError(f"wake.keywords: custom wake word model {str(path)!r} does not exist")
    return path


def unknown_keyword(keyword: str, engine: str, available: list[str]) -> WakeWordError:
    return WakeWordError(
        f"wake.keywords: unknown keyword {keyword!r} for engine {engine}; available: "
        f"{', '.join(sorted(available))} (or give the path to a custom model file)")
