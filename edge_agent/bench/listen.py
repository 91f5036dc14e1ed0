"""``edge-agent bench listen [--json] [--runs N] [--tune]``: what listening costs and how well it decides.

Measured on audio the project generates itself (:mod:`edge_agent.speechgen`):
  - idle cost: CPU seconds per audio second of the idle listener (wake word only; and wake word + VAD)
    on non-speech audio (white, pink and babble noise), through the real :class:`ListenerCore`;
  - VAD: microseconds per 32 ms frame, fp32 and int8, and their frame agreement at ``vad.threshold``
    on speech + noise (complete and pause sentences with their noise, plus noise alone);
  - turn model: milliseconds per Smart Turn call (features + inference);
  - turn policy (the configured one): false end of turn in the 0.7 s mid-sentence pause of the pause
    sentences, and end latency (``turn_end`` minus the end of the last word) on complete sentences;
  - wake word: recall / false accepts (:func:`edge_agent.bench.wake_eval.evaluate_wake`).
Timings are the median of ``--runs`` runs. ``--tune`` also sweeps policy variants (replaying the
recorded VAD output; turn-model answers are cached per frame) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.listen.policy import PolicyConfig
    from edge_agent.listen.turn import TurnDetector
    from edge_agent.models import ModelManager
    from edge_agent.speechgen import Utterance

FRAME = 512
LATENCY_TARGET_S = 0.7
HINT_POLICY: dict[str, Any] = {"semantic_wait_ms": 500, "turn_threshold": 0.6, "early_threshold": 0.6,
                               "confirm_votes": 1, "semantic_weight": 0.7, "recheck_ms": 64}
"""The hinted policy (the ``[turn]`` defaults), used to score the LM hint when the configured policy has
it off (``turn.semantic_wait_ms = 0``)."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("listen", help="benchmark: idle cost, VAD fp32/int8, turn model and policy, wake word",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--runs", type=int, default=3, help="timing runs (median reported; default 3)")
    p.add_argument("--idle-s", type=float, default=60.0, help="seconds of noise for the idle cost")
    p.add_argument("--wake-minutes", type=float, default=10.0, help="ordinary speech for wake false accepts/hour")
    p.add_argument("--no-wake", action="store_true", help="skip the wake word accuracy part (slow)")
    p.add_argument("--tune", action="store_true", help="also sweep turn-policy variants")
    p.add_argument("--turn-clips", type=int, default=48,
                   help="sentences in each turn set (with a pause / complete; default 48)")
    p.set_defaults(func=run)


# --- the pieces -------------------------------------------------------------------------------------


def _frames(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // FRAME
    return audio[: n * FRAME].reshape(n, FRAME)


def vad_probs(vad: Any, audio: np.ndarray) -> np.ndarray:
    vad.reset()
    return np.array([vad.process(f) for f in _frames(audio)], np.float32)


def vad_compare(models: ModelManager, sets: Sequence[np.ndarray], threshold: float, runs: int) -> dict[str, Any]:
    """CPU time per frame (process_time, so other processes' load counts less), fp32 and int8 runs
    interleaved so that both see the same machine; and their agreement at ``threshold``."""
    from edge_agent.listen.vad import SileroVad, vad_model_path

    out: dict[str, Any] = {"threshold": threshold, "frames": int(sum(len(a) // FRAME for a in sets))}
    vads = {p: SileroVad(vad_model_path(models, p)) for p in ("fp32", "int8")}
    probs: dict[str, np.ndarray] = {}
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(runs):
        for precision, vad in vads.items():
            t0 = time.process_time()
            probs[precision] = np.concatenate([vad_probs(vad, a) for a in sets])
            times[precision].append((time.process_time() - t0) / out["frames"] * 1e6)
    for precision, ts in times.items():
        out[f"{precision}_us_per_frame"] = round(statistics.median(ts), 1)
        out[f"{precision}_us_runs"] = [round(t, 1) for t in ts]
    a, b = probs["fp32"] >= threshold, probs["int8"] >= threshold
    out["agreement"] = round(float((a == b).mean()), 5)
    out["speech_fraction_fp32"] = round(float(a.mean()), 3)
    out["max_abs_diff"] = round(float(np.abs(probs["fp32"] - probs["int8"]).max()), 4)
    return out


def turn_ms(turn: TurnDetector, audio: np.ndarray, runs: int) -> dict[str, Any]:
    """Wall and CPU milliseconds per Smart Turn call (features + inference) on 2-7 s of audio."""
    turn.predict(audio[: SAMPLE_RATE * 4])  # warm-up
    wall, cpu = [], []
    for _ in range(runs):
        calls = 10
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(calls):
            turn.predict(audio[: SAMPLE_RATE * (2 + k % 6)])
        wall.append((time.perf_counter() - t0) / calls * 1e3)
        cpu.append((time.process_time() - c0) / calls * 1e3)
    return {"ms_per_call": round(statistics.median(wall), 1), "cpu_ms_per_call": round(statistics.median(cpu), 1),
            "ms_runs": [round(t, 1) for t in wall], "cpu_ms_runs": [round(t, 1) for t in cpu]}


def idle_cost(settings: Settings, models: ModelManager, seconds: float, runs: int) -> dict[str, Any]:
    """CPU s per audio s of the idle listener on noise: wake word only (the design), and + VAD."""
    from edge_agent import speechgen
    from edge_agent.listen.listener import HOP, ListenerCore
    from edge_agent.listen.vad import load_vad
    from edge_agent.listen.wake import build_wake_detector

    rng = np.random.default_rng(7)
    n = int(seconds * SAMPLE_RATE)
    part = n // 3
    audio = np.concatenate([
        np.clip(np.round(speechgen.noise(kind, part, rng) * 600.0), -32768, 32767).astype(np.int16)
        for kind in ("white", "pink", "babble")])
    vad = load_vad(settings, models)
    wake = build_wake_detector(settings, models)
    out: dict[str, Any] = {"audio_s": round(len(audio) / SAMPLE_RATE, 1), "wake_engine": str(settings.wake.engine)}
    try:
        for label, vad_on in (("wake_only", False), ("wake_and_vad", True)):
            fractions = []
            for _ in range(runs):
                core = ListenerCore(vad, None, wake, lambda e: None)
                core.set_playback_active(vad_on)  # playback keeps the VAD running while idle (barge-in watch)
                core.policy.cfg = replace(core.policy.cfg, barge_in_ms=1e9)
                t0 = time.process_time()
                for i in range(0, len(audio) - HOP + 1, HOP):
                    core.process_hop(audio[i:i + HOP])
                fractions.append((time.process_time() - t0) / (len(audio) / SAMPLE_RATE))
            out[f"{label}_cpu_fraction"] = round(statistics.median(fractions), 5)
            out[f"{label}_runs"] = [round(f, 5) for f in fractions]
        total, producer = paced_idle(vad, wake, audio[: SAMPLE_RATE * 10])
        out["paced_thread_wake_only_cpu_fraction"] = round(total - producer, 5)
        out["paced_fake_mic_cpu_fraction"] = round(producer, 5)
    finally:
        wake.close()
    return out


def paced_idle(vad: Any, wake: Any, audio: np.ndarray) -> tuple[float, float]:
    """The real :class:`Listener` thread on a ring fed in real time by 10 ms writes (a stand-in for
    the PortAudio callback). Returns CPU per audio second of the process with the listener, and of
    the stand-in alone (to subtract)."""
    import threading

    from edge_agent.audio.ringbuf import RingBuffer
    from edge_agent.listen.listener import Listener, ListenerCore

    chunk = SAMPLE_RATE // 100
    seconds = len(audio) / SAMPLE_RATE

    def produce(ring: RingBuffer) -> None:
        start = time.monotonic()
        for k, i in enumerate(range(0, len(audio) - chunk + 1, chunk)):
            ring.write(np.ascontiguousarray(audio[i:i + chunk]))
            delay = start + (k + 1) * 0.01 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    c0 = time.process_time()
    produce(RingBuffer(len(audio) + chunk))
    alone = (time.process_time() - c0) / seconds
    ring = RingBuffer(SAMPLE_RATE * 2)
    listener = Listener(ListenerCore(vad, None, wake, lambda e: None), ring)
    c0 = time.process_time()
    listener.start()
    producer = threading.Thread(target=produce, args=(ring,), name="fake-mic")
    producer.start()
    producer.join()
    listener.stop()
    return (time.process_time() - c0) / seconds, alone


# --- turn policy replay ------------------------------------------------------------------------------


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
    """Smart Turn answers per (utterance, frame, context start), so policy variants replay cheaply."""

    def __init__(self, turn: TurnDetector) -> None:
        self.turn = turn
        self.cache: dict[tuple[int, int, int], float] = {}
        self.calls = 0

    def get(self, idx: int, audio: np.ndarray, end: int, start: int) -> float:
        key = (idx, end, start)
        if key not in self.cache:
            self.calls += 1
            self.cache[key] = self.turn.predict(audio[start:end])
        return self.cache[key]


class TextHints:
    """Transcripts of the turn so far at each ``speech_end`` (cached), scored for text completeness
    by ``scorer`` (default: :func:`edge_agent.listen.policy.text_completeness`)."""

    def __init__(self, stt: Any, scorer: Any = None) -> None:
        from edge_agent.listen.policy import text_completeness

        self.stt = stt
        self.scorer = scorer or text_completeness
        self.cache: dict[tuple[int, int, int], str] = {}
        self.scores: dict[str, float | None] = {}
        self.seconds: list[float] = []
        self.score_seconds: list[float] = []

    def hint(self, idx: int, audio: np.ndarray, start: int, end: int) -> float | None:
        key = (idx, start, end)
        if key not in self.cache:
            t0 = time.perf_counter()
            self.cache[key] = self.stt.transcribe(audio[start:end])
            self.seconds.append(time.perf_counter() - t0)
        text = self.cache[key]
        if text not in self.scores:
            t0 = time.perf_counter()
            self.scores[text] = self.scorer(text)
            self.score_seconds.append(time.perf_counter() - t0)
        return self.scores[text]


def replay(rec: Recorded, idx: int, cfg: PolicyConfig, cache: TurnCache, pre_roll_s: float,
           context_s: float, hints: TextHints | None = None, hint_delay_s: float = 0.0) -> list[Any]:
    """The policy over one utterance's recorded VAD output, as the listener would run it.

    With ``hints``, each ``speech_end`` starts a (speculative) transcription of the turn so far; its
    text-completeness hint reaches the policy ``hint_delay_s`` later (the STT's own time)."""
    from edge_agent.listen.policy import TurnPolicy

    state: dict[str, Any] = {"frame": 0, "hint": None, "hint_at": 0.0}
    policy: TurnPolicy

    def turn_start() -> int:
        s = policy.speech_start_t if policy.speech_start_t is not None else 0.0
        return max(0, int((s - pre_roll_s) * SAMPLE_RATE))

    def turn_probability() -> float:
        end = state["frame"] * FRAME
        return cache.get(idx, rec.utt.samples, end, max(turn_start(), end - int(context_s * SAMPLE_RATE)))

    def semantic() -> float | None:
        return state["hint"] if policy.t >= state["hint_at"] - 1e-9 else None

    policy = TurnPolicy(cfg, turn_probability=turn_probability, semantic=semantic if hints else None)
    policy.start(0.0)
    events: list[Any] = []
    for i, p in enumerate(rec.probs):
        state["frame"] = i + 1
        new = policy.process(FRAME / SAMPLE_RATE, float(p), None if rec.levels is None else float(rec.levels[i]))
        for e in new:
            if hints is not None and e.type == "speech_end":
                state["hint"] = hints.hint(idx, rec.utt.samples, turn_start(), state["frame"] * FRAME)
                state["hint_at"] = policy.t + hint_delay_s
            elif e.type == "speech_start":
                state["hint"] = None
        events.extend(new)
        if any(e.type == "turn_end" for e in new):
            break
    return events


def score_turns(pauses: Sequence[Recorded], completes: Sequence[Recorded], cfg: PolicyConfig, cache: TurnCache,
                pre_roll_s: float, context_s: float, hints: TextHints | None = None,
                hint_delay_s: float = 0.0) -> dict[str, Any]:
    cut = 0
    for k, rec in enumerate(pauses):
        ends = [e for e in replay(rec, k, cfg, cache, pre_roll_s, context_s, hints, hint_delay_s)
                if e.type == "turn_end"]
        resume = rec.utt.segments[-1].start_t
        if ends and ends[0].audio_t < resume + 0.05:
            cut += 1
    latencies = []
    for k, rec in enumerate(completes):
        ends = [e for e in replay(rec, 1000 + k, cfg, cache, pre_roll_s, context_s, hints, hint_delay_s)
                if e.type == "turn_end"]
        last = rec.utt.last_word_t or 0.0
        latencies.append(ends[0].audio_t - last if ends else float("inf"))
    lat = np.array(latencies)
    finite = lat[np.isfinite(lat)]
    early = lat < 0.0  # ended before the last word: a cut-off, not a fast end
    return {
        "pause_false_end_rate": round(cut / max(len(pauses), 1), 3),
        "complete_within_700ms": round(float(((lat <= LATENCY_TARGET_S) & ~early).mean()), 3),
        "complete_cut_before_last_word": int(early.sum()),
        "end_latency_median_ms": round(float(np.median(finite)) * 1000, 0) if finite.size else None,
        "end_latency_p90_ms": round(float(np.percentile(finite, 90)) * 1000, 0) if finite.size else None,
        "pause_clips": len(pauses), "complete_clips": len(completes),
    }


def tune(pauses: Sequence[Recorded], completes: Sequence[Recorded], base: PolicyConfig, cache: TurnCache,
         pre_roll_s: float) -> list[dict[str, Any]]:
    rows = []
    for context_s in (8.0, 4.0):
        for first in (96, 160, 224):
            for recheck in (64, 128):
                for thr in (0.5, 0.7, 0.8, 0.9):
                    for votes in (1, 2):
                        cfg = replace(base, first_check_ms=first, recheck_ms=recheck, turn_threshold=thr,
                                      early_threshold=thr, confirm_votes=votes, max_silence_ms=min(base.max_silence_ms, 2000))
                        r = score_turns(pauses, completes, cfg, cache, pre_roll_s, context_s)
                        rows.append({"context_s": context_s, "first_check_ms": first, "recheck_ms": recheck,
                                     "threshold": thr, "confirm_votes": votes, **r})
    return rows


# --- the command ---------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from edge_agent import speechgen
    from edge_agent.config import load_settings
    from edge_agent.errors import EdgeAgentError
    from edge_agent.listen.policy import PolicyConfig
    from edge_agent.listen.turn import load_turn_detector
    from edge_agent.listen.vad import load_vad
    from edge_agent.models import manager_from_settings

    settings = load_settings(getattr(args, "config", None))
    models = manager_from_settings(settings)
    runs = max(1, args.runs)
    log("generating the test set (cached after the first run)...")
    pauses_u, completes_u = speechgen.pause_sentences(args.turn_clips), speechgen.complete_sentences(args.turn_clips)
    rng = np.random.default_rng(11)
    noise_only = [np.clip(np.round(speechgen.noise(k, SAMPLE_RATE * 10, rng) * a), -32768, 32767).astype(np.int16)
                  for k in ("white", "pink", "babble") for a in (100.0, 1000.0)]
    result: dict[str, Any] = {"runs": runs}

    log("VAD fp32 vs int8...")
    result["vad"] = vad_compare(models, [u.samples for u in pauses_u + completes_u] + noise_only,
                                settings.vad.threshold, runs)
    result["vad"]["default_precision"] = settings.vad.precision

    log("turn model...")
    turn = load_turn_detector(settings, models)
    result["turn_model"] = turn_ms(turn, completes_u[0].samples, runs)

    log("turn policy...")
    vad = load_vad(settings, models)
    pauses = [record(vad, u) for u in pauses_u]
    completes = [record(vad, u) for u in completes_u]
    cfg = PolicyConfig.from_settings(settings)
    cache = TurnCache(turn)
    pre_roll = settings.turn.pre_roll_ms / 1000.0
    result["turn_policy"] = {
        "config": {k: v for k, v in cfg.__dict__.items() if k not in ("semantic_weight",)},
        "context_s": settings.turn.max_context_s, "audio_only": True,  # the daemon's figure: with_lm_hint
        **score_turns(pauses, completes, cfg, cache, pre_roll, settings.turn.max_context_s)}
    silence_only = replace(cfg, use_turn_model=False, max_silence_ms=500)
    result["turn_policy"]["silence_only_500ms"] = score_turns(pauses, completes, silence_only, cache, pre_roll, 8.0)
    log("turn policy with a text hint (Whisper on each speech_end)...")
    try:
        from edge_agent.stt.factory import create_stt

        hints = TextHints(create_stt(settings, models))
        optimistic = score_turns(pauses, completes, cfg, cache, pre_roll, settings.turn.max_context_s, hints, 0.0)
        delay = float(np.median(hints.seconds)) if hints.seconds else 0.0
        result["turn_policy"]["with_text_hint"] = {
            "stt_ms_median": round(delay * 1000, 0),
            "hint_at_speech_end": optimistic,
            "hint_after_stt_time": score_turns(pauses, completes, cfg, cache, pre_roll,
                                               settings.turn.max_context_s, hints, delay),
            "hint_after_stt_time_wait_600ms": score_turns(
                pauses, completes, replace(cfg, semantic_wait_ms=600), cache, pre_roll,
                settings.turn.max_context_s, hints, delay)}
        log("turn policy with a language-model hint (SmolLM2 P(end of sentence) on the transcript)...")
        from edge_agent.listen.semantic import LmCompleteness

        lm = LmCompleteness(models.require("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf"))
        lm_hints = TextHints(hints.stt, lm.hint)
        lm_hints.cache = hints.cache  # the same transcripts
        at_end = score_turns(pauses, completes, cfg, cache, pre_roll, settings.turn.max_context_s, lm_hints, 0.0)
        lm_delay = delay + (float(np.median(lm_hints.score_seconds)) if lm_hints.score_seconds else 0.0)
        result["turn_policy"]["with_lm_hint"] = {
            "stt_plus_lm_ms_median": round(lm_delay * 1000, 0),
            "hint_at_speech_end": at_end,
            "hint_after_stt_and_lm_time": score_turns(  # what the daemon does (the hint is on when the wait is)
                pauses, completes, cfg if cfg.semantic_wait_ms > 0 else replace(cfg, **HINT_POLICY), cache,
                pre_roll, settings.turn.max_context_s, lm_hints, lm_delay),
            "policy_with_hint": "configured" if cfg.semantic_wait_ms > 0 else HINT_POLICY}
        daemon_cfg = cfg if cfg.semantic_wait_ms > 0 else replace(cfg, **HINT_POLICY)
        result["turn_policy"]["with_lm_hint"]["vad_alone_no_level_rule"] = score_turns(
            pauses, completes, replace(daemon_cfg, quiet_drop_db=0.0), cache, pre_roll,
            settings.turn.max_context_s, lm_hints, lm_delay)
    except EdgeAgentError as exc:  # no STT or LLM model: the audio-only figures still stand
        result["turn_policy"].setdefault("with_text_hint", {"error": exc.message})
    if args.tune:
        log("sweeping policy variants...")
        result["tune"] = tune(pauses, completes, cfg, cache, pre_roll)

    log("idle cost...")
    result["idle"] = idle_cost(settings, models, args.idle_s, runs)

    if not args.no_wake:
        log("wake word accuracy (slow)...")
        from edge_agent.bench.wake_eval import evaluate_wake

        wake = evaluate_wake(settings, models, minutes=args.wake_minutes)
        for r in wake["configs"].values():
            for k in ("missed", "false_accepts_at", "confusable_hits"):
                if k in r:
                    r[k] = r[k][:5]
        result["wake"] = wake

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_summary(result)
    return 0


def print_summary(r: dict[str, Any]) -> None:
    v, t, p, i = r["vad"], r["turn_model"], r["turn_policy"], r["idle"]
    print(f"idle (wake only): {i['wake_only_cpu_fraction'] * 100:.2f}% of one core; "
          f"wake + VAD: {i['wake_and_vad_cpu_fraction'] * 100:.2f}%; the real listener thread, paced: "
          f"{i['paced_thread_wake_only_cpu_fraction'] * 100:.2f}%")
    print(f"VAD: fp32 {v['fp32_us_per_frame']} us/frame, int8 {v['int8_us_per_frame']} us/frame, "
          f"agreement {v['agreement'] * 100:.2f}% over {v['frames']} frames (default {v['default_precision']})")
    print(f"turn model: {t['ms_per_call']} ms/call ({t['cpu_ms_per_call']} ms CPU)")
    print(f"turn policy (audio only): false end at 0.7 s pauses {p['pause_false_end_rate'] * 100:.0f}%, "
          f"complete ended within 700 ms {p['complete_within_700ms'] * 100:.0f}% "
          f"(median {p['end_latency_median_ms']} ms)")
    h = p.get("with_text_hint", {})
    if "hint_after_stt_time" in h:
        for label in ("hint_at_speech_end", "hint_after_stt_time", "hint_after_stt_time_wait_600ms"):
            x = h[label]
            print(f"  + text hint ({label}, STT {h['stt_ms_median']} ms): false end {x['pause_false_end_rate'] * 100:.0f}%, "
                  f"within 700 ms {x['complete_within_700ms'] * 100:.0f}% (median {x['end_latency_median_ms']} ms)")
    h = p.get("with_lm_hint", {})
    if "hint_at_speech_end" in h:
        for label in ("hint_at_speech_end", "hint_after_stt_and_lm_time", "vad_alone_no_level_rule"):
            x = h[label]
            print(f"  + LM hint ({label}, STT+LM {h['stt_plus_lm_ms_median']} ms): false end "
                  f"{x['pause_false_end_rate'] * 100:.0f}%, within 700 ms {x['complete_within_700ms'] * 100:.0f}% "
                  f"(median {x['end_latency_median_ms']} ms)")
    s = p["silence_only_500ms"]
    print(f"  silence-only 500 ms: false end {s['pause_false_end_rate'] * 100:.0f}%, "
          f"within 700 ms {s['complete_within_700ms'] * 100:.0f}%")
    if "wake" in r:
        w = r["wake"]
        print(f"wake ({w['keyword']}): recall {w['recall']:.3f}, false accepts/h {w['false_accepts_per_hour']:.2f}, "
              f"confusables {w['confusable_false_accepts']}")
    for row in r.get("tune", []):
        print(json.dumps(row))
