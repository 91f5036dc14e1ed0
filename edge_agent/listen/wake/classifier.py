"""The wake check's acoustic half: a classifier on what Whisper's encoder heard over the keyword.

Whisper tiny.en, prompted with the keyword, writes "Okay Nabu" for "okay, bamboo", "obey Nabu" or
"okay, Naomi" too: the prompt that lets it spell the name also pulls near misses onto it. Its
encoder still heard the difference. So the STT check also locates the keyword's words in time
(Whisper's word alignment, narrowed to where the audio is louder than the room: the alignment
starts the first word at the start of the buffer), pools the encoder's output over that span into
a few equal segments (``SEGMENTS`` x 384 values, plus the span's length), and a logistic regression
trained on generated speech scores it. Training is the ``wake_classifier`` recipe of
:mod:`edge_agent.models` (a derived model ``edge-agent models pull`` builds); this module is what
the runtime needs of it: the features, the model's file format and its version.

The idea of a small trained verifier after a permissive detector comes from openWakeWord's custom
verifier models (a logistic regression on its speech embeddings); the features and training here
are our own.

Costs: nothing beyond the check's own transcription (its encoder output is what is pooled) and a
dot product; checks come only on a first-stage candidate (a few dozen per hour of speech).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_agent.errors import ModelError

if TYPE_CHECKING:
    from edge_agent.models import ModelManager

GENERATOR_VERSION = 4
"""What a classifier's rows are made of (these features and the recipe's training set). A classifier
of another version is refused, and ``models pull`` builds it again (the manifest's ``build`` is this
number)."""

SEGMENTS = 8
FRAMES_PER_S = 50.0  # Whisper's encoder: one output frame per 20 ms
MARGIN_FRAMES = 2  # a little context either side of the aligned words
LEVEL_FRAME = 320  # 20 ms at 16 kHz: one level per encoder frame
RISE_DB = 6.0
FLOOR_PERCENTILE = 20


def frame_levels(samples: np.ndarray) -> np.ndarray:
    """dB level of each 20 ms frame of ``samples`` (float, -1..1), smoothed over three frames."""
    n = len(samples) // LEVEL_FRAME
    power = np.square(samples[: n * LEVEL_FRAME].reshape(n, LEVEL_FRAME), dtype=np.float64).mean(axis=1)
    levels = 10.0 * np.log10(power + 1e-12)
    return np.convolve(np.pad(levels, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")  # no dip at the ends


def speech_within(levels: np.ndarray, start_s: float, end_s: float) -> tuple[float, float]:
    """The part of the aligned span that is louder than the buffer's noise floor by ``RISE_DB``.

    Whisper's word alignment starts the first word at the start of the buffer: the silence before
    "Okay" is counted as part of it, and the pooled segments then describe the room, not the word
    (half the span of a typical wake phrase can be silence). The floor is a low percentile of the buffer's levels (the buffer holds about a second of pause around the phrase)."""
    audible = levels[levels > -100.0]  # exact zeros: a ring buffer not yet filled
    if not len(audible):
        return start_s, end_s
    loud = np.flatnonzero(levels >= np.percentile(audible, FLOOR_PERCENTILE) + RISE_DB)
    a, b = int(start_s * FRAMES_PER_S), int(np.ceil(end_s * FRAMES_PER_S))
    inside = loud[(loud >= a) & (loud < b)]
    if not len(inside):
        return start_s, end_s
    first, last = inside[0] / FRAMES_PER_S, (inside[-1] + 1) / FRAMES_PER_S
    return first, max(last, first + 0.1)


def span_features(encoded: np.ndarray, start_s: float, end_s: float, segments: int = SEGMENTS) -> np.ndarray:
    """``encoded`` (frames x dims) mean-pooled over ``segments`` equal parts of the span, then its length."""
    f0 = max(0, int(start_s * FRAMES_PER_S) - MARGIN_FRAMES)
    f1 = min(len(encoded), max(f0 + segments, int(np.ceil(end_s * FRAMES_PER_S)) + MARGIN_FRAMES))
    f0 = min(f0, f1 - segments)
    edges = np.linspace(f0, f1, segments + 1).round().astype(int)
    pooled = [encoded[edges[k] : max(edges[k + 1], edges[k] + 1)].mean(axis=0) for k in range(segments)]
    return np.concatenate([*pooled, [end_s - start_s]]).astype(np.float32)


@dataclass(frozen=True)
class LogisticModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float

    def score(self, features: np.ndarray) -> float:
        z = float(((features - self.mean) / self.scale) @ self.coef + self.bias)
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0))))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 3.0, iterations: int = 50) -> LogisticModel:
    """L2-regularised logistic regression by Newton's method, classes weighted equally.

    Features are standardised first; with a few hundred rows and ~2,300 features the Hessian solve
    takes about a second."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(np.unique(y)) != 2:
        raise ValueError("training needs both positive and negative rows")
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1.0 - y.mean()))
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    w = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50.0, 50.0)))
        grad = z.T @ (weight * (p - y)) + penalty * w
        hess = (z * (weight * p * (1.0 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return LogisticModel(mean.astype(np.float32), scale.astype(np.float32), w[:-1].astype(np.float32), float(w[-1]))


def save(path: Path, model: LogisticModel, meta: dict[str, object]) -> None:
    np.savez(path, mean=model.mean, scale=model.scale, coef=model.coef, bias=np.float32(model.bias),
             meta=np.array(json.dumps(meta, sort_keys=True)))


def load(path: Path) -> tuple[LogisticModel, dict[str, object]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            model = LogisticModel(z["mean"], z["scale"], z["coef"], float(z["bias"]))
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"wake keyword classifier {path} cannot be read ({exc}). "
                         f"Fix: edge-agent models pull --force {path.parent.name}") from None
    if not (model.mean.shape == model.scale.shape == model.coef.shape):
        raise ModelError(f"wake keyword classifier {path} is malformed. Fix: edge-agent models pull --force {path.parent.name}")
    return model, meta


def model_name(keyword: str) -> str:
    """The manifest's name for ``keyword``'s classifier."""
    return "wake-classifier-" + keyword.replace("_", "-")


def load_classifiers(keywords: Sequence[str], models: ModelManager) -> dict[str, LogisticModel]:
    """The trained keyword classifiers the manifest has for ``keywords`` (others: the STT check alone)."""
    out = {}
    for keyword in keywords:
        name = model_name(keyword)
        if name in models.manifest.models:
            model, meta = load(models.require(name, f"{keyword}.npz"))
            if meta.get("generator") != GENERATOR_VERSION:
                # trained on another check's features (an older edge-agent): its scores would mean nothing
                raise ModelError(f"model {name!r} was trained for an older wake check (version "
                                 f"{meta.get('generator')}, this one needs {GENERATOR_VERSION}). "
                                 f"Fix: edge-agent models pull --force {name}")
            out[keyword] = model
    return out
