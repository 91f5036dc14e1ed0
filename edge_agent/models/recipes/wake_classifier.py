"""Recipe ``wake_classifier``: trains the wake keyword classifier (:mod:`edge_agent.listen.wake.classifier`)
on generated speech.

It is a derived model (``edge-agent models pull`` runs :func:`build`), so no trained weights sit in
the repository; the first build pins its sha256 like a first download.

The training set is made the way the bench's test set is (:mod:`edge_agent.speechgen`), but from
other voices and other phrases, so the bench grades the classifier on what it never saw:

- voices: 22 espeak-ng voices and variants and 12 speed x pitch settings of the Piper voice, none
  of them among the bench's (the Piper speaker itself is the same: it is the only one here);
- positives: the wake phrase, alone or followed by a command, and every third one after the end of
  another sentence (the agent's reply or another voice; ``SPEECH_BEFORE_EVERY``), as are the neighbours;
- negatives: neighbours of the keyword (one sound or one word changed: "okay, taboo", "hey, Nabu",
  "okay, Nanu"...), none of them a phrase of the bench's confusable set, and the keyword's nearest
  phrase in noise (``NOISY_NEIGHBOURS``: "obey Nabu", which is also on the bench; said there by other
  voices in other noise).

Every clip goes through the real first stage at its low threshold; every check it asks for is
transcribed with the keyword as prompt, and the checks where Whisper finds the keyword's words
become rows (label: the check came while the wake phrase was being said). About 1,060 clips, made
and checked by one worker process per core (at most four).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent import speechgen
from edge_agent.audio import SAMPLE_RATE
from edge_agent.config import Settings
from edge_agent.errors import ModelError
from edge_agent.listen.wake import classifier
from edge_agent.listen.wake.classifier import GENERATOR_VERSION
from edge_agent.listen.wake.factory import build_first_stage, default_first_stage_threshold
from edge_agent.listen.wake.verified import BUFFER_S, VerifiedDetector
from edge_agent.listen.wake.verifier import SttVerifier
from edge_agent.models.manager import ModelManager
from edge_agent.speechgen import Utterance, Voice

log = logging.getLogger(__name__)

L2 = 3.0

TRAIN_VOICES: tuple[Voice, ...] = tuple(
    Voice("espeak", name, speed, pitch) for name, speed, pitch in (
        ("en-us+f1", 150, 50), ("en-us+f2", 160, 65), ("en-us+f4", 145, 55), ("en-us+m2", 155, 45),
        ("en-us+m4", 165, 40), ("en-us+m5", 140, 50), ("en-us+m6", 150, 35), ("en-us+m7", 130, 45),
        ("en-gb+m1", 150, 50), ("en-gb+f1", 150, 60), ("en-gb-x-gbclan", 155, 50), ("en-gb-x-gbcwmd", 145, 45),
        ("en-us-nyc", 160, 50), ("en-029+f1", 140, 60), ("en-gb-x-rp+m2", 170, 45), ("en-us+Andy", 150, 50),
        ("en-us+Annie", 150, 55), ("en-us+klatt2", 150, 50), ("en-us+Alicia", 140, 60), ("en-gb+Steph", 155, 55),
        ("en-us+john", 145, 40), ("en-us+max", 160, 50))
) + tuple(Voice("piper", speed=ls, pitch=p) for ls in (0.9, 1.1, 1.4) for p in (0.85, 0.95, 1.05, 1.2))

TRAIN_COMMANDS = ("Dim the lights.", "What's on my calendar?", "Start the dishwasher.", "Play the news.",
                  "How warm is it outside?", "Call my brother.")
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "okay_nabu": (
        "Okay, taboo.", "Okay, kazoo.", "Okay, Nala.", "Okay, baboon.", "Okay, shampoo.", "Okay, nobody.",
        "Okay, Nairobi.", "Okay, tattoo.", "Okay, Abu.", "Okay, Bambi.", "Okay, now you.", "Obey.",
        "Obey the rules.", "Okay, new boots.", "Okay, Nadine.", "Okay, Navy.", "Okay, Nemo.", "Okay, Rambo.",
        "Okay, Mabel.", "Hey, Nabu.", "Oh, Nabu.", "Okay, Nadia.", "Okay, mamba.", "Okay, no way.",
        "Okay, Nathan.", "Okay, voodoo.", "Away, Nabu.", "Oh hey, Nabu.", "Obey, Abu.", "Obey, Nadia.",
        "Okay, Naoki.", "Okay, Neo.", "Okay, Nami.", "Okay, Nanu.", "Okay, no.", "Okay, nope.", "Okay, next.",
        "Okay, now then.", "Okay, not yet."),
    # Whole words only: a single consonant changed ("Okay, Mabu.") is said by espeak-ng almost as it
    # says the keyword, and teaching the classifier to reject it makes it reject real wake phrases.
}
NOISY_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    # Clean, Whisper writes this "Oh, bay Nabu" and the spelling alone rejects it; in noise it writes
    # "Okay Nabu", and only a classifier that has seen it rejects it. Said by the training voices, in
    # noise only: only noisy clips give rows.
    "okay_nabu": ("Obey Nabu.",),
}
NOISY_CLIPS = 204
POSITIVES_PER_VOICE = 6
VOICES_PER_NEIGHBOUR = 16
ORDINARY_CLIPS = 30
NOISES: tuple[tuple[str, float | None], ...] = (
    ("none", None), ("pink", 20.0), ("babble", 20.0), ("white", 20.0), ("pink", 10.0), ("babble", 10.0),
    ("white", 10.0), ("babble", 15.0))
NOISY = tuple(n for n in NOISES if n[1] is not None)
"""NOISES without the clean one: for ``NOISY_NEIGHBOURS``."""


SPEECH_BEFORE_EVERY = 3
"""Every third wake phrase and neighbour has speech before it: the agent's own voice finishing a reply,
or another voice, 0.05-0.4 s before the phrase at -25 to 0 dB. Without it the classifier had only
heard phrases after silence; with speech before, Whisper stretches or squeezes "okay" over that speech
and the pooled span reads differently (2-3 of 7 held-out wake phrases scored 0.01-0.02)."""
SPEECH_BEFORE_SENTENCES = 12
SPEECH_BEFORE_SEED = 23
"""Sentences drawn with a seed no bench uses (the duplex bench's replies are 17 and 4017-8017)."""


def _speech_before(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    text = speechgen.ordinary_sentences(SPEECH_BEFORE_SENTENCES, seed=SPEECH_BEFORE_SEED)[
        int(rng.integers(0, SPEECH_BEFORE_SENTENCES))]
    speaker = Voice("piper") if rng.random() < 0.5 else TRAIN_VOICES[int(rng.integers(0, len(TRAIN_VOICES)))]
    audio = speechgen.speak(text, speaker).astype(np.float32)
    audio = audio[-int(rng.uniform(0.4, 1.5) * SAMPLE_RATE):] * 10 ** (rng.uniform(-25.0, 0.0) / 20)  # its end
    return text, audio.astype(np.int16)


def _clip(keyword: str, text: str, voice: Voice, i: int, kind: str, command: str | None = None) -> Utterance:
    rng = speechgen.seeded_rng("train", kind, text, voice.label, i)
    pieces: list[tuple[str, np.ndarray] | float] = [float(rng.uniform(0.5, 1.0)), (text, speechgen.speak(text, voice))]
    if kind in ("wake", "neighbour") and i % SPEECH_BEFORE_EVERY == SPEECH_BEFORE_EVERY - 1:
        pieces[:1] = [float(rng.uniform(0.3, 0.6)), _speech_before(rng), float(rng.uniform(0.05, 0.4))]
    if command:
        pieces += [float(rng.uniform(0.3, 0.8)), (command, speechgen.speak(command, voice))]
    pieces.append(1.2)
    audio, segs = speechgen.compose(pieces)
    noises = NOISY if kind == "noisy_neighbour" else NOISES
    noise, snr = noises[int(rng.integers(0, len(noises)))]
    return Utterance(speechgen.mix_noise(audio, noise, snr, rng), " ".join(s.text for s in segs), kind, voice.label,
                     noise, snr, keyword, segs, segs[-1].end_t)


def clip_plan(keyword: str) -> list[tuple[str, str, int, int, str | None]]:
    """(kind, text, voice index, variant, command) for every training clip: cheap to send to workers."""
    if keyword not in NEIGHBOURS or keyword not in speechgen.WAKE_TEXT:
        raise ModelError(f"no training phrases for wake keyword {keyword!r}; known: {', '.join(NEIGHBOURS)}")
    wake_text = speechgen.WAKE_TEXT[keyword]
    plan: list[tuple[str, str, int, int, str | None]] = []
    for vi in range(len(TRAIN_VOICES)):
        for k in range(POSITIVES_PER_VOICE):
            cmd = TRAIN_COMMANDS[(vi + k) % len(TRAIN_COMMANDS)] if k % 2 else None
            plan.append(("wake", wake_text[k % len(wake_text)], vi, k, cmd))
    for ni, text in enumerate(NEIGHBOURS[keyword]):
        for k in range(VOICES_PER_NEIGHBOUR):
            plan.append(("neighbour", text, (ni * 7 + k * 3) % len(TRAIN_VOICES), k, None))
    for text in NOISY_NEIGHBOURS.get(keyword, ()):
        for k in range(NOISY_CLIPS):
            plan.append(("noisy_neighbour", text, (k * 5 + 3) % len(TRAIN_VOICES), k, None))
    for si, text in enumerate(speechgen.ordinary_sentences(ORDINARY_CLIPS, seed=7)):
        plan.append(("ordinary", text, si % len(TRAIN_VOICES), si, None))
    return plan


class _RecordingVerifier:
    """Stands in for the second stage: keeps every buffer it is asked about and says no."""

    def __init__(self) -> None:
        self.checks: list[tuple[int, np.ndarray]] = []
        self.at = 0

    def confirm(self, keyword: str, audio: np.ndarray) -> bool | None:
        self.checks.append((self.at, audio.copy()))
        return False

    def close(self) -> None:
        pass


def _rows(keyword: str, plan: list[tuple[str, str, int, int, str | None]], models_root: str) -> list[tuple[np.ndarray, int]]:
    """Worker: make the clips, run the first stage over them, featurize every check it asks for."""
    os.environ["EDGE_AGENT_PATHS__MODELS_DIR"] = models_root  # the speech generator's Piper voice
    models = ModelManager(Path(models_root))
    settings = Settings()
    settings.wake.keywords = [keyword]
    stt = SttVerifier(str(models.require("whisper-tiny-en", "model.bin").parent), classifiers={}, views=1)  # features only
    rows: list[tuple[np.ndarray, int]] = []
    try:
        for kind, text, vi, k, cmd in plan:
            u = _clip(keyword, text, TRAIN_VOICES[vi], k, kind, cmd)
            rec = _RecordingVerifier()
            det = VerifiedDetector(build_first_stage("micro", settings, models,
                                                     threshold=default_first_stage_threshold("micro", "stt")), rec)
            hop = 320
            for i in range(0, len(u.samples), hop):
                rec.at = i + hop
                det.process(u.samples[i : i + hop])
            det.first.close()
            for at, audio in rec.checks:
                found = stt.keyword_features(keyword, audio)
                if found is None:
                    continue
                t = at / SAMPLE_RATE
                seg = next(s for s in u.segments if s.text == text)  # the phrase (speech may come before it)
                positive = kind == "wake" and seg.start_t <= t <= seg.end_t + BUFFER_S
                rows.append((found.features, int(positive)))
    finally:
        stt.close()
    return rows


def train(keyword: str, models_root: Path, workers: int | None = None) -> tuple[classifier.LogisticModel, dict[str, Any]]:
    t0 = time.monotonic()
    plan = clip_plan(keyword)
    workers = max(1, min(workers or os.cpu_count() or 1, 4))
    parts = [plan[i::workers] for i in range(workers)]
    if workers == 1:
        results = [_rows(keyword, parts[0], str(models_root))]
    else:
        ctx = multiprocessing.get_context("spawn")  # loaded models and threads do not survive fork
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            results = list(pool.map(_rows, [keyword] * workers, parts, [str(models_root)] * workers))
    rows = [r for part in results for r in part]
    y = np.array([label for _, label in rows])
    if y.sum() == 0 or y.sum() == len(y):
        raise ModelError(f"wake keyword classifier for {keyword!r}: the training set has only one class "
                         f"({len(y)} rows); is espeak-ng installed?")
    x = np.stack([f for f, _ in rows])
    model = classifier.fit_logistic(x, y, L2)
    accuracy = float(np.mean([(model.score(f) >= 0.5) == bool(lab) for f, lab in rows]))
    meta = {"keyword": keyword, "segments": classifier.SEGMENTS, "l2": L2, "clips": len(plan),
            "rows": len(rows), "positive_rows": int(y.sum()), "train_accuracy": round(accuracy, 4),
            "generator": GENERATOR_VERSION}  # no timings: the same inputs must give the same file
    log.info("trained the %s keyword classifier in %.0f s", keyword, time.monotonic() - t0)
    return model, meta


def build(inputs: dict[str, Path], out_dir: Path, keyword: str = "okay_nabu") -> None:
    """``derive`` entry point of the manifest: train and write ``<keyword>.npz`` into ``out_dir``."""
    models_root = inputs["whisper-tiny-en"].parent
    log.warning("training the %s keyword classifier on generated speech (6 to 12 minutes on 2 cores; once)", keyword)
    model, meta = train(keyword, models_root)
    classifier.save(out_dir / f"{keyword}.npz", model, meta)
    log.warning("keyword classifier trained: %s", meta)
