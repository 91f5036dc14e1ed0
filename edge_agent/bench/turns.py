"""``bench listen``'s end-of-turn part: the policy replayed over recorded VAD output, scored on a split.

Each utterance's VAD output is recorded once; the policy then runs over it as the listener would,
asking Smart Turn (answers cached per frame, :class:`TurnCache`) and, at each ``speech_end``,
taking a speculative transcript of the turn so far (cached, :class:`TextHints`) whose text hint,
weighed by the transcript's confidence, reaches the policy after the STT's (and LM's) own time.
Both caches can live on disk (under the generated-audio cache), keyed by the audio itself, so
re-running the bench or a sweep costs no model call for what was already answered.

A split is a pair of sets: pause sentences (a 0.7 s pause inside; the turn must not end there) and
complete ones (the turn should end within 700 ms of the last word, never before it).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE

if TYPE_CHECKING:
    from edge_agent.listen.hint import Hint, HintTrust
    from edge_agent.listen.policy import PolicyConfig
    from edge_agent.listen.turn import TurnDetector
    from edge_agent.speechgen import Utterance
    from edge_agent.stt.base import Transcription

FRAME = 512
LATENCY_TARGET_S = 0.7


def _frames(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // FRAME
    return audio[: n * FRAME].reshape(n, FRAME)


def vad_probs(vad: Any, audio: np.ndarray) -> np.ndarray:
    vad.reset()
    return np.array([vad.process(f) for f in _frames(audio)], np.float32)


def _digest(audio: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(audio).tobytes()).hexdigest()[:20]


class _JsonCache:
    """A dict kept in a JSON file (None: in memory only); ``save`` writes it atomically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path is not None and path.exists():
            try:
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.data = {}

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data), encoding="utf-8")
        os.replace(tmp, self.path)


@dataclass
class Recorded:
    utt: Utterance
    probs: np.ndarray
    levels: np.ndarray | None = None
    """Each frame's loudness in dB, which the listener passes the policy with the VAD's output."""


def record(vad: Any, utt: Utterance) -> Recorded:
    from edge_agent.listen.policy import level_db

    levels = np.array([level_db(f) for f in _frames(utt.samples)], np.float32)
    return Recorded(utt, vad_probs(vad, utt.samples), levels)


class TurnCache:
    """Smart Turn answers per (utterance, frame, context start), so policy variants replay cheaply;
    with ``path``, also on disk, keyed by the utterance's audio."""

    def __init__(self, turn: TurnDetector, path: Path | None = None) -> None:
        self.turn = turn
        self.cache: dict[tuple[int, int, int], float] = {}
        self.disk = _JsonCache(path)
        self._keys: dict[int, str] = {}
        self.calls = 0

    def get(self, idx: int, audio: np.ndarray, end: int, start: int) -> float:
        key = (idx, end, start)
        if key in self.cache:
            return self.cache[key]
        if idx not in self._keys:
            self._keys[idx] = _digest(audio)
        disk_key = f"{self._keys[idx]}:{start}:{end}"
        p = self.disk.data.get(disk_key)
        if p is None:
            self.calls += 1
            p = self.disk.data[disk_key] = self.turn.predict(audio[start:end])
        self.cache[key] = float(p)
        return float(p)

    def save(self) -> None:
        self.disk.save()


class TextHints:
    """Speculative transcripts of the turn so far (with their STT scores and decode time, cached by
    the audio), scored for text completeness by ``scorer`` (default:
    :func:`edge_agent.listen.hint.text_completeness`)."""

    def __init__(self, stt: Any, scorer: Any = None, path: Path | None = None) -> None:
        from edge_agent.listen.hint import text_completeness

        self.stt = stt
        self.scorer = scorer or text_completeness
        self.disk = _JsonCache(path)
        self.scores: dict[str, float | Hint | None] = {}
        self.used: set[str] = set()
        self.score_seconds: list[float] = []

    def transcript(self, audio: np.ndarray) -> Transcription:
        from edge_agent.stt.base import ScoredSpeechToText, Transcription

        key = _digest(audio)
        found = self.disk.data.get(key)
        if found is None:
            t0 = time.perf_counter()
            if isinstance(self.stt, ScoredSpeechToText):
                tr = self.stt.transcribe_scored(audio)
            else:
                tr = Transcription(self.stt.transcribe(audio))
            found = self.disk.data[key] = {"text": tr.text, "avg_logprob": tr.avg_logprob,
                                           "no_speech_prob": tr.no_speech_prob, "s": time.perf_counter() - t0}
        self.used.add(key)
        return Transcription(found["text"], found["avg_logprob"], found["no_speech_prob"])

    def score(self, text: str) -> float | Hint | None:
        if text not in self.scores:
            t0 = time.perf_counter()
            self.scores[text] = self.scorer(text)
            self.score_seconds.append(time.perf_counter() - t0)
        return self.scores[text]

    def stt_seconds(self) -> float:
        """Median decode time of the transcripts this run used (0 if none)."""
        s = [self.disk.data[k]["s"] for k in self.used]
        return float(statistics.median(s)) if s else 0.0

    def save(self) -> None:
        self.disk.save()


def replay(rec: Recorded, idx: int, cfg: PolicyConfig, cache: TurnCache, pre_roll_s: float,
           context_s: float, hints: TextHints | None = None, hint_delay_s: float = 0.0,
           trust: HintTrust | None = None, checks: list[tuple[Hint | None, float, float]] | None = None) -> Any:
    """The policy over one utterance's recorded VAD output, as the listener would run it.

    With ``hints``, each ``speech_end`` starts a (speculative) transcription of the turn so far; its
    text-completeness hint, with the transcript's confidence under ``trust`` (None: always sure),
    reaches the policy ``hint_delay_s`` later (the STT's own time). With ``checks`` (a list), each
    check's hint in force, silence so far (ms) and last speech time are appended to it, and the
    events and the list are returned."""
    from edge_agent.listen.policy import TurnPolicy

    state: dict[str, Any] = {"frame": 0, "hint": None, "hint_at": 0.0, "earlier": None}
    policy: TurnPolicy

    def turn_start() -> int:
        s = policy.speech_start_t if policy.speech_start_t is not None else 0.0
        return max(0, int((s - pre_roll_s) * SAMPLE_RATE))

    def turn_probability() -> float:
        end = state["frame"] * FRAME
        if checks is not None and policy.last_speech_t is not None:
            checks.append((semantic(), (policy.t - policy.last_speech_t) * 1000.0, policy.last_speech_t))
        return cache.get(idx, rec.utt.samples, end, max(turn_start(), end - int(context_s * SAMPLE_RATE)))

    def semantic() -> Hint | None:
        hint: Hint | None = state["hint"] if policy.t >= state["hint_at"] - 1e-9 else None
        return hint

    policy = TurnPolicy(cfg, turn_probability=turn_probability, semantic=semantic if hints else None)
    policy.start(0.0)
    events: list[Any] = []
    for i, p in enumerate(rec.probs):
        state["frame"] = i + 1
        new = policy.process(FRAME / SAMPLE_RATE, float(p), None if rec.levels is None else float(rec.levels[i]))
        for e in new:
            if hints is not None and e.type == "speech_end":
                tr = hints.transcript(rec.utt.samples[turn_start():state["frame"] * FRAME])
                text_p = hints.score(tr.text)
                conf = 1.0 if trust is None else trust.confidence(tr.avg_logprob, tr.no_speech_prob, tr.text,
                                                                  state["earlier"])
                state["earlier"] = tr.text
                state["hint"] = None if text_p is None else with_scores(text_p, conf, tr)
                state["hint_at"] = policy.t + hint_delay_s
            elif e.type == "speech_start":
                state["hint"] = None
        events.extend(new)
        if any(e.type == "turn_end" for e in new):
            break
    return events if checks is None else (events, checks)


def with_scores(p: float | Hint, confidence: float, tr: Transcription) -> Hint:
    """The hint as the responder hands it to the policy: with its confidence and the STT's scores."""
    from edge_agent.listen.hint import Hint

    hint = p if isinstance(p, Hint) else Hint(p, text=tr.text)
    return replace(hint, confidence=confidence, avg_logprob=tr.avg_logprob, no_speech_prob=tr.no_speech_prob)


def score_turns(pauses: Sequence[Recorded], completes: Sequence[Recorded], cfg: PolicyConfig, cache: TurnCache,
                pre_roll_s: float, context_s: float, hints: TextHints | None = None,
                hint_delay_s: float = 0.0, trust: HintTrust | None = None) -> dict[str, Any]:
    """Pauses cut, complete sentences ended within 700 ms / before their last word / by the maximum
    silence, and the clips that missed (``misses``: what was said, by which voice, in which noise)."""
    cut, misses = 0, []
    for k, rec in enumerate(pauses):
        ends = [e for e in replay(rec, k, cfg, cache, pre_roll_s, context_s, hints, hint_delay_s, trust)
                if e.type == "turn_end"]
        resume = rec.utt.segments[-1].start_t
        if ends and ends[0].audio_t < resume + 0.05:
            cut += 1
            misses.append({"kind": "pause_cut", "text": rec.utt.text, "voice": rec.utt.voice, "noise": rec.utt.noise,
                           "reason": ends[0].reason})
    latencies, reasons = [], []
    for k, rec in enumerate(completes):
        ends = [e for e in replay(rec, 1000 + k, cfg, cache, pre_roll_s, context_s, hints, hint_delay_s, trust)
                if e.type == "turn_end"]
        last = rec.utt.last_word_t or 0.0
        lat = ends[0].audio_t - last if ends else float("inf")
        latencies.append(lat)
        reasons.append(ends[0].reason if ends else "none")
        if not 0.0 <= lat <= LATENCY_TARGET_S:
            misses.append({"kind": "complete_early" if lat < 0 else "complete_late", "text": rec.utt.text,
                           "voice": rec.utt.voice, "noise": rec.utt.noise, "reason": reasons[-1],
                           "latency_ms": round(lat * 1000) if np.isfinite(lat) else None})
    lat_a = np.array(latencies)
    finite = lat_a[np.isfinite(lat_a)]
    early = lat_a < 0.0  # ended before the last word: a cut-off, not a fast end
    return {
        "pause_false_end_rate": round(cut / max(len(pauses), 1), 3),
        "pause_cut": cut,
        "complete_within_700ms": round(float(((lat_a <= LATENCY_TARGET_S) & ~early).mean()), 3) if len(lat_a) else 0.0,
        "complete_cut_before_last_word": int(early.sum()),
        "complete_max_silence": reasons.count("max_silence"),
        "complete_model_sure": reasons.count("model_sure"),
        "complete_settled": reasons.count("settled"),
        "complete_not_ended": reasons.count("none"),  # speech-like noise held the turn open to the clip's end
        "end_latency_median_ms": round(float(np.median(finite)) * 1000, 0) if finite.size else None,
        "end_latency_p90_ms": round(float(np.percentile(finite, 90)) * 1000, 0) if finite.size else None,
        "pause_clips": len(pauses), "complete_clips": len(completes),
        "misses": misses,
    }


FIT_MAX_SILENCE_MS = 1100.0
"""Checks up to this much silence train the trained decision (past it the settled silence ends the turn)."""


def check_rows(pauses: Sequence[Recorded], completes: Sequence[Recorded], cfg: PolicyConfig, cache: TurnCache,
               pre_roll_s: float, context_s: float, hints: TextHints, hint_delay_s: float,
               trust: HintTrust | None = None) -> list[tuple[Hint, float, bool]]:
    """Every check of every silence (none ends the turn), with the hint in force and the silence so
    far, labelled True when the silence comes after the last word (the words had ended there) and
    False inside the sentence (a 0.7 s pause, a short pause inside a command): what
    :func:`edge_agent.listen.completeness.fit_rows` learns from."""
    held = replace(cfg, turn_threshold=2.0, early_threshold=2.0, sure_threshold=2.0, settled_after_ms=float("inf"),
                   completeness=None, max_silence_ms=FIT_MAX_SILENCE_MS + 1.0, max_turn_s=600.0)
    rows: list[tuple[Hint, float, bool]] = []
    for k, rec in enumerate([*pauses, *completes]):
        idx = k if k < len(pauses) else 1000 + k - len(pauses)
        last_start = rec.utt.segments[-1].start_t
        seen = replay(rec, idx, held, cache, pre_roll_s, context_s, hints, hint_delay_s, trust, checks=[])[1]
        rows += [(h, silence_ms, last_speech_t > last_start + 0.05) for h, silence_ms, last_speech_t in seen
                 if h is not None]
    return rows


def tune(pauses: Sequence[Recorded], completes: Sequence[Recorded], base: PolicyConfig, cache: TurnCache,
         pre_roll_s: float) -> list[dict[str, Any]]:
    """Audio-only variants of the turn model's schedule and threshold (no hint)."""
    rows = []
    for context_s in (8.0, 4.0):
        for first in (96, 160, 224):
            for recheck in (64, 128):
                for thr in (0.5, 0.7, 0.8, 0.9):
                    for votes in (1, 2):
                        cfg = replace(base, first_check_ms=first, recheck_ms=recheck, turn_threshold=thr,
                                      early_threshold=thr, confirm_votes=votes, max_silence_ms=min(base.max_silence_ms, 2000))
                        r = score_turns(pauses, completes, cfg, cache, pre_roll_s, context_s)
                        r.pop("misses")
                        rows.append({"context_s": context_s, "first_check_ms": first, "recheck_ms": recheck,
                                     "threshold": thr, "confirm_votes": votes, **r})
    return rows


def hint_variants(base: PolicyConfig, trust: HintTrust) -> Iterable[tuple[dict[str, Any], PolicyConfig, HintTrust]]:
    """The confidence-weighted hint's parameters, swept one group at a time around ``base``/``trust``
    (the configured ones; each group changes only its own): the log-probability bounds, the
    disagreement wait, the lead-on wait (a hint short of sure waits out a short inner pause), the
    first check (the least silence any end needs), the bounded wait, the blend's threshold, weight
    and votes; and all off (the hint as it was)."""
    yield ({"all_off": True}, replace(base, disagree_below=0.0, disagree_wait_ms=0.0, sure_threshold=1.0,
                                      lead_on_wait_ms=0.0), replace(trust, enabled=False))
    yield {"hint_confidence": "off"}, base, replace(trust, enabled=False)
    for mode in ("both", "finished"):
        for doubt in (-1.5, -1.2, -1.0, -0.8):
            for sure in (-0.5, -0.3, -0.2, -0.15):
                yield ({"hint_confidence": mode, "doubt_logprob": doubt, "sure_logprob": sure},
                       replace(base, doubt_both_ways=mode == "both"),
                       replace(trust, enabled=True, doubt_logprob=doubt, sure_logprob=sure))
    for below in (0.0, 0.2, 0.3, 0.5):
        for wait in (300.0, 400.0, 500.0):
            yield ({"disagree_below": below, "disagree_wait_ms": wait},
                   replace(base, disagree_below=below, disagree_wait_ms=wait), trust)
    for quick in (0.98, 0.985, 0.99):  # the LM hint's top band: P(end) 0.2, 0.25, 0.3
        for wait in (0.0, 352.0, 416.0, 480.0):
            yield ({"quick_hint": quick, "lead_on_wait_ms": wait},
                   replace(base, quick_hint=quick, lead_on_wait_ms=wait), trust)
    for first in (160.0, 224.0, 288.0, 352.0, 416.0, 480.0):
        yield {"first_check_ms": first}, replace(base, first_check_ms=first), trust
    for thr in (1.0, 0.6, 0.7, 0.8, 0.9):
        for after in (800.0, 900.0, 1000.0, 1200.0):
            yield ({"sure_threshold": thr, "sure_after_ms": after},
                   replace(base, sure_threshold=thr, sure_after_ms=after), trust)
    for thr in (0.7, 0.8):  # the blend's own knobs (none saved a pause the two models agree on)
        yield {"threshold": thr}, replace(base, turn_threshold=thr, early_threshold=thr), trust
    for weight in (0.5, 0.85):
        yield {"semantic_weight": weight}, replace(base, semantic_weight=weight), trust
    yield {"confirm_votes": 2}, replace(base, confirm_votes=2), trust


def tune_hint(pauses: Sequence[Recorded], completes: Sequence[Recorded], base: PolicyConfig, cache: TurnCache,
              pre_roll_s: float, context_s: float, hints: TextHints, delay_s: float,
              trust: HintTrust) -> list[dict[str, Any]]:
    """:func:`hint_variants` scored on one split (the tuning split: never the held-out one)."""
    rows = []
    for label, cfg, tr in hint_variants(base, trust):
        r = score_turns(pauses, completes, cfg, cache, pre_roll_s, context_s, hints, delay_s, tr)
        r.pop("misses")
        rows.append({**label, **r})
    return rows
