"""A trained completeness decision: a logistic regression over what the turn knows at each check.

The blend of Smart Turn and the text hint (:mod:`edge_agent.listen.policy`) was tuned by hand. This
is the alternative the end-of-turn record asked for: a handful of coefficients fitted (with numpy,
``edge-agent bench listen --fit-completeness``) on the tuning split's checks alone, every check of
every silence held open, labelled by whether the words had ended there (the silence after the last
word) or were going on (a 0.7 s pause, a short pause inside a command). At each check it gives the
probability that the turn is over from:

- ``log_p_end``: the language model's P(end) of the speculative transcript (log, clipped to
  [1e-4, 0.4], the range the hint resolves);
- ``ends_open``: 1 when the transcript ends on a word an utterance almost never ends on ("to", "the",
  :func:`~edge_agent.listen.hint.text_completeness`);
- ``avg_logprob`` and ``no_speech``: the STT's own scores for that transcript;
- ``silence_s``: the silence so far.

Smart Turn's answer (its level, its spread over the last checks) is left out on purpose: on the
generated voices it says "complete" more often at a pause than at an end (ROC AUC 0.27-0.50 across the
splits), so a fit gives it a negative weight, which would be wrong on real voices. Smart Turn keeps
its bounded wait (``turn.sure_threshold``). The coefficients are data (:data:`COEFFICIENTS_PATH`),
not a model file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge_agent.listen.hint import Hint, text_completeness

FEATURES = ("log_p_end", "ends_open", "avg_logprob", "no_speech", "silence_s")
COEFFICIENTS_PATH = Path(__file__).with_name("completeness.json")
P_END_RANGE = (1e-4, 0.4)
MISSING_LOGPROB = -0.5
"""``avg_logprob`` of an engine that gives none: about the tuning transcripts' median."""


def features(hint: Hint, silence_ms: float) -> list[float]:
    """The decision's inputs, in :data:`FEATURES` order."""
    lo, hi = P_END_RANGE
    p_end = lo if hint.p_end is None else min(hi, max(lo, hint.p_end))
    finished = text_completeness(hint.text) if hint.text is not None else None
    return [math.log(p_end), 1.0 if finished == 0.0 else 0.0,
            MISSING_LOGPROB if hint.avg_logprob is None else hint.avg_logprob,
            0.0 if hint.no_speech_prob is None else hint.no_speech_prob, silence_ms / 1000.0]


@dataclass(frozen=True)
class TrainedCompleteness:
    """Logistic regression: P(turn over) = sigmoid(bias + weights · :func:`features`)."""

    weights: tuple[float, ...]
    bias: float
    threshold: float
    """The turn ends at a check where the probability reaches this."""

    def probability(self, hint: Hint, silence_ms: float) -> float:
        z = self.bias + float(np.dot(self.weights, features(hint, silence_ms)))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def ends(self, hint: Hint, silence_ms: float) -> bool:
        return self.probability(hint, silence_ms) >= self.threshold

    def to_json(self, **extra: object) -> str:
        return json.dumps({"features": list(FEATURES), "weights": [round(w, 5) for w in self.weights],
                           "bias": round(self.bias, 5), "threshold": self.threshold, **extra}, indent=1) + "\n"


def load(path: Path = COEFFICIENTS_PATH) -> TrainedCompleteness:
    d = json.loads(path.read_text(encoding="utf-8"))
    if tuple(d["features"]) != FEATURES:
        raise ValueError(f"{path}: features {d['features']} are not {list(FEATURES)}")
    return TrainedCompleteness(tuple(float(w) for w in d["weights"]), float(d["bias"]), float(d["threshold"]))


@lru_cache(maxsize=1)
def shipped() -> TrainedCompleteness:
    """The committed coefficients."""
    return load()


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 3000, step: float = 0.5) -> tuple[np.ndarray, float]:
    """Logistic regression by gradient descent on standardised inputs (L2 ``l2``); returns the weights
    and bias on the raw inputs."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = p - y
        w -= step * (z.T @ g / len(y) + l2 * w / len(y))
        b -= step * float(g.mean())
    return w / sd, float(b - (w / sd) @ mu)


def fit_rows(rows: Sequence[tuple[Hint, float, bool]], threshold: float) -> TrainedCompleteness:
    """Fitted on ``(hint, silence_ms, words ended)`` checks."""
    x = np.array([features(h, s) for h, s, _ in rows], np.float64)
    y = np.array([1.0 if done else 0.0 for _, _, done in rows])
    w, b = fit(x, y)
    return TrainedCompleteness(tuple(float(v) for v in w), b, threshold)
