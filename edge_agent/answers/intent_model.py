"""The learned intent matcher: the fallback after the exact sentence templates.

Templates match only the phrasings someone wrote ("set a timer for 20 minutes", not "I need a timer for
20 minutes"). This matcher is a softmax regression over word and character n-grams
(:mod:`edge_agent.answers.intent_features`), trained offline on sentences drawn from the same templates
and on Home Assistant's intents we do not answer as ``none`` (``tools/train_intent_model.py``; the
weights are ``answers/intent_model.json``, about 100 kB). It says which intent a sentence is and how sure
it is; below :data:`MIN_CONFIDENCE`, or when the intent's slot cannot be read from the words
(:mod:`edge_agent.answers.intent_slots`), it says nothing and the turn goes on to the knowledge files.
Loading is a JSON read and one array (milliseconds); a prediction is a sum over ~60 rows."""

from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from edge_agent.answers.devices import Device
from edge_agent.answers.intent_features import N_FEATURES, features, reversal_cues, tokens
from edge_agent.answers.intent_slots import device_slots, duration_seconds, volume_direction, volume_level
from edge_agent.answers.knowledge import STOPWORDS

MIN_CONFIDENCE = 0.5
"""The class's probability below which the matcher does not answer. Chosen on the tuning split and the
validation splits (``heldout``-``heldout8``) with the router's check of unfamiliar words: 0.5 took one
intent more than 0.6-0.7 and no other question; 0.4 also took "I need a timer." (no duration) for a
timer's status (docs/design/answers.md)."""

NAME_OF = {"time": "HassGetCurrentTime", "date": "HassGetCurrentDate", "timer_start": "HassStartTimer",
           "timer_cancel": "HassCancelTimer", "timer_cancel_all": "HassCancelAllTimers",
           "timer_status": "HassTimerStatus", "volume_set": "HassSetVolume",
           "volume_relative": "HassSetVolumeRelative", "mute": "HassMediaPlayerMute",
           "unmute": "HassMediaPlayerUnmute", "nevermind": "HassNevermind", "capabilities": "EdgeCapabilities",
           "stop": "EdgeStop"}
SIBLINGS = {"volume_set": ("volume_set", "volume_relative"), "volume_relative": ("volume_set", "volume_relative"),
            "timer_cancel": ("timer_cancel", "timer_cancel_all"), "timer_cancel_all": ("timer_cancel", "timer_cancel_all")}
"""Classes :func:`intent_for` tells apart by the words (a level or a direction; "all"), whose words are one
vocabulary for :meth:`IntentClassifier.unfamiliar`."""
DISCOURSE = frozenset(["oh", "ah", "well", "right", "alright", "sorry", "um", "uh", "erm", "hmm", "actually",
                       "yes", "yeah", "cheers", "hey", "excuse"])
"""Words that open or soften a request and say nothing of what it asks ("oh, don't worry about it"): never
unfamiliar. Not "no", which can turn a request round."""
OPPOSITE = {"mute": "unmute", "unmute": "mute", "turn_on": "turn_off", "turn_off": "turn_on"}
"""Classes that undo each other: a reversal cue that one's sentences never have and the other's do moves the
guess across ("take me off mute" is an unmute when the unmute sentences say "off mute")."""
_ALL_TIMERS = re.compile(r"\b(all|every|timers|each)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float


def model_path() -> Any:
    return resources.files("edge_agent") / "answers" / "intent_model.json"


def encode(weights: np.ndarray, bias: np.ndarray, classes: list[str], vocab: dict[str, set[str]],
           cues: dict[str, set[str]] | None = None, cue_words: set[str] | None = None) -> dict[str, Any]:
    """The weights as JSON: the rows of the buckets in use, int8 with one scale, zlib and base64; each
    class's words (what :meth:`IntentClassifier.unfamiliar` checks); and each class's reversal cues with
    the words they are read against (what :meth:`IntentClassifier.check_reversal` checks)."""
    used = np.flatnonzero(np.abs(weights).max(axis=1) > 1e-6)
    scale = float(np.abs(weights).max()) / 127 or 1.0
    q = np.round(weights[used] / scale).astype(np.int8)
    pack = lambda a: base64.b64encode(zlib.compress(a.tobytes(), 9)).decode()  # noqa: E731
    return {"classes": classes, "n_features": N_FEATURES, "scale": scale, "bias": [round(float(b), 4) for b in bias],
            "rows": pack(used.astype(np.uint16)), "weights": pack(q),
            "vocab": {c: " ".join(sorted(vocab.get(c, ()))) for c in classes if c != "none"},
            "cues": {c: " ".join(sorted((cues or {}).get(c, ()))) for c in classes if c != "none"},
            "cue_words": " ".join(sorted(cue_words or ()))}


def decode(data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    unpack = lambda s, t: np.frombuffer(zlib.decompress(base64.b64decode(s)), dtype=t)  # noqa: E731
    classes = list(data["classes"])
    rows = unpack(data["rows"], np.uint16).astype(np.int64)
    weights = np.zeros((int(data["n_features"]), len(classes)), dtype=np.float32)
    weights[rows] = unpack(data["weights"], np.int8).reshape(len(rows), len(classes)) * float(data["scale"])
    return weights, np.asarray(data["bias"], dtype=np.float32), classes


class IntentClassifier:
    """Which class a sentence is, with its probability."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        if data is None:
            data = json.loads(model_path().read_text(encoding="utf-8"))
        if int(data["n_features"]) != N_FEATURES:
            raise ValueError("intent_model.json was trained with other features: run tools/train_intent_model.py")
        self.weights, self.bias, self.classes = decode(data)
        self.vocab = {c: frozenset(words.split()) for c, words in data.get("vocab", {}).items()}
        self.cues = {c: frozenset(words.split()) for c, words in data.get("cues", {}).items()}
        self.cue_words = frozenset(str(data.get("cue_words", "")).split())

    def probabilities(self, text: str) -> dict[str, float]:
        idx = features(text)
        if not idx:
            return {c: float(c == "none") for c in self.classes}
        z = self.weights[idx].sum(axis=0) / np.sqrt(len(idx)) + self.bias
        p = np.exp(z - z.max())
        p /= p.sum()
        return {c: float(v) for c, v in zip(self.classes, p, strict=True)}

    def predict(self, text: str) -> Prediction:
        p = self.probabilities(text)
        best = max(p, key=lambda c: p[c])
        return Prediction(best, p[best])

    def polarity_agrees(self, label: str, text: str) -> bool:
        """Whether the words say ``label`` rather than its opposite (:data:`OPPOSITE`): a sentence's meaning
        finds what it is about, but puts "switch the lights on" next to "switch the lights off"; the words
        tell them apart. True for a class with no opposite."""
        opposite = OPPOSITE.get(label)
        if opposite is None:
            return True
        p = self.probabilities(text)
        return p[label] > p[opposite]


    def unfamiliar(self, label: str, text: str) -> list[str]:
        """The words of ``text`` that no training sentence of ``label`` has (stopwords and numbers aside):
        "What time does the *ferry leave*?" is not the time; "I need a timer" has none."""
        known = frozenset().union(*(self.vocab.get(c, frozenset()) for c in SIBLINGS.get(label, (label,))))
        return [w for w in dict.fromkeys(tokens(text))
                if w != "NUM" and w not in STOPWORDS and w not in DISCOURSE and w not in known]


    def check_reversal(self, label: str, text: str) -> str | None:
        """``label``, unless the sentence turns a request round in a way that its training sentences never
        do ("take the sound *off mute*", "*don't* turn it on", "I *no longer* want it muted"): then the
        opposite class when its training sentences have all those cues, else None (no answer; an action
        the user did not ask for is the worst failure)."""
        known = frozenset().union(*(self.cues.get(c, frozenset()) for c in SIBLINGS.get(label, (label,))))
        strange = reversal_cues(text, self.cue_words) - known
        if not strange:
            return label
        opposite = OPPOSITE.get(label)
        if opposite is not None and strange <= self.cues.get(opposite, frozenset()):
            return opposite
        return None


def intent_for(label: str, text: str, devices: list[Device]) -> tuple[str, dict[str, Any]] | None:
    """The intent and slots of a sentence of class ``label``, or None when a slot it needs is not in the
    words."""
    if label == "timer_start":
        seconds = duration_seconds(text)
        return ("HassStartTimer", {"seconds": seconds}) if seconds else None
    if label in ("timer_cancel", "timer_cancel_all"):
        return ("HassCancelAllTimers" if _ALL_TIMERS.search(text) else "HassCancelTimer"), {}
    if label in ("volume_set", "volume_relative"):
        level = volume_level(text)
        if level is not None:
            return "HassSetVolume", {"volume": level}
        direction = volume_direction(text)
        return ("HassSetVolumeRelative", {"direction": direction}) if direction else None
    if label in ("turn_on", "turn_off"):
        slots = device_slots(text, devices)
        on = label == "turn_on"
        if "device" in slots:
            return ("EdgeTurnOnUnknown" if on else "EdgeTurnOffUnknown"), slots
        return ("HassTurnOn" if on else "HassTurnOff"), slots
    name = NAME_OF.get(label)
    return (name, {}) if name else None
