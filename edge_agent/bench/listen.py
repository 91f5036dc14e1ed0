"""``edge-agent bench listen [--json] [--runs N] [--split S] [--tune] [--tune-hint]``: what listening costs
and how well it decides.

Measured on audio the project generates itself (:mod:`edge_agent.speechgen`), the end of turn on two
splits reported side by side: the tuning split (the sets the policy is tuned on) and the held-out
split (:mod:`edge_agent.speechgen.heldout`: other voices, noises and sentences, never tuned on;
``--tune`` and ``--tune-hint`` score the tuning split only):
  - idle cost: CPU seconds per audio second of the idle listener (wake word only; and wake word + VAD)
    on non-speech audio (white, pink and babble noise), through the real :class:`ListenerCore`;
  - VAD: microseconds per 32 ms frame, fp32 and int8, and their frame agreement at ``vad.threshold``
    on speech + noise (complete and pause sentences with their noise, plus noise alone);
  - turn model: milliseconds per Smart Turn call (features + inference);
  - turn policy (the configured one): false end of turn in the 0.7 s mid-sentence pause of the pause
    sentences, and end latency (``turn_end`` minus the end of the last word) on complete sentences;
  - wake word: recall / false accepts (:func:`edge_agent.bench.wake_eval.evaluate_wake`).
Timings are the median of ``--runs`` runs. ``--tune`` also sweeps audio-only policy variants and
``--tune-hint`` the confidence-weighted hint's parameters (replaying the recorded VAD output; Smart
Turn answers and transcripts are cached on disk by the audio, :mod:`edge_agent.bench.turns`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.bench.turns import (
    FRAME,
    LATENCY_TARGET_S,
    Recorded,
    TextHints,
    TurnCache,
    record,
    replay,
    score_turns,
    tune,
    tune_hint,
    vad_probs,
)

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.listen.completeness import TrainedCompleteness
    from edge_agent.listen.hint import HintTrust
    from edge_agent.listen.policy import PolicyConfig
    from edge_agent.listen.turn import TurnDetector
    from edge_agent.models import ModelManager
    from edge_agent.speechgen import Utterance

__all__ = ["FRAME", "LATENCY_TARGET_S", "Recorded", "TextHints", "TurnCache", "record", "replay", "score_turns",
           "tune", "tune_hint", "vad_probs"]
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
    p.add_argument("--turns-only", action="store_true",
                   help="only the end-of-turn figures (no VAD timing, idle cost or wake word)")
    p.add_argument("--split", choices=("all", "tuning", "heldout", "heldout2", "heldout3", "heldout4", "heldout5",
                                          "heldout6"),
                   default="all",
                   help="which turn split to score: tuning, heldout .. heldout5 (validation: each was looked at), "
                        "heldout6 (sentences said whole, pauses cut in at a word boundary; nothing decided on "
                        "it), or all (default: every split)")
    p.add_argument("--tune", action="store_true", help="also sweep audio-only turn-policy variants (tuning split)")
    p.add_argument("--tune-hint", action="store_true",
                   help="also sweep the confidence-weighted hint's parameters (tuning split only)")
    p.add_argument("--fit-completeness", metavar="PATH", default=None,
                   help="fit the trained completeness decision (turn.decision = trained) on the tuning split's "
                        "checks, choose its threshold on the tuning split, and write its coefficients to PATH "
                        "(the shipped ones: edge_agent/listen/completeness.json)")
    p.add_argument("--hint-delay-ms", type=float, default=None,
                   help="the speculative hint reaches the policy this long after speech_end (default: this "
                        "run's median STT + LM time); fix it to compare policies: a 2 ms change in the measured "
                        "time can move a hint across a 32 ms frame and change a clip")
    p.add_argument("--turn-clips", type=int, default=48,
                   help="sentences in each tuning turn set (with a pause / complete; default 48)")
    p.add_argument("--tuning-whole-clips", type=int, default=24,
                   help="tuning sentences said whole with their pauses cut in, added to each tuning turn set "
                        "(0.7 s pauses / complete commands with 0.2-0.4 s inner pauses; default 24)")
    p.add_argument("--heldout-clips", type=int, default=32,
                   help="sentences in each held-out turn set (default 32)")
    p.set_defaults(func=run)


# --- the pieces -------------------------------------------------------------------------------------


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


# --- the command ---------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def hint_trust(settings: Settings) -> HintTrust:
    from edge_agent.listen.hint import HintTrust

    t = settings.turn
    return HintTrust(t.hint_confidence != "off", t.hint_doubt_logprob, t.hint_sure_logprob)


@dataclass
class TurnTools:
    """What scoring a split needs: the models (with their caches) and the configured policy."""

    cfg: PolicyConfig
    cache: TurnCache
    pre_roll_s: float
    context_s: float
    trust: HintTrust
    hints: TextHints | None = None
    lm_hints: TextHints | None = None
    delay_s: float | None = None
    """The hint's delay after speech_end (None: the measured STT and LM time)."""


def trained() -> TrainedCompleteness | None:
    """The shipped trained decision (None: no coefficients yet)."""
    from edge_agent.listen.completeness import shipped

    try:
        return shipped()
    except (OSError, ValueError, KeyError):
        return None


FIT_THRESHOLDS = tuple(round(0.5 + 0.01 * k, 2) for k in range(49))


def fit_completeness(pauses: Sequence[Recorded], completes: Sequence[Recorded], tools: TurnTools, delay_s: float,
                     path: Path) -> dict[str, Any]:
    """Fit :class:`~edge_agent.listen.completeness.TrainedCompleteness` on the tuning split's checks
    (:func:`~edge_agent.bench.turns.check_rows`), then pick the threshold that ends most complete
    sentences within 700 ms with none ended before its last word and no more pauses cut than the
    blend cuts on the same split; write the coefficients to ``path``."""
    from edge_agent.bench.turns import check_rows
    from edge_agent.listen.completeness import fit_rows

    assert tools.lm_hints is not None
    cfg, cache, pre, ctx = tools.cfg, tools.cache, tools.pre_roll_s, tools.context_s
    blend = replace(cfg, completeness=None)
    rows = check_rows(pauses, completes, blend, cache, pre, ctx, tools.lm_hints, delay_s, tools.trust)
    base = score_turns(pauses, completes, blend, cache, pre, ctx, tools.lm_hints, delay_s, tools.trust)
    model = fit_rows(rows, 0.5)
    sweep, best = [], None
    for threshold in FIT_THRESHOLDS:
        r = score_turns(pauses, completes, replace(blend, completeness=replace(model, threshold=threshold)), cache,
                        pre, ctx, tools.lm_hints, delay_s, tools.trust)
        r.pop("misses")
        sweep.append({"threshold": threshold, **r})
        if r["complete_cut_before_last_word"] == 0 and r["pause_cut"] <= base["pause_cut"] and (
                best is None or r["complete_within_700ms"] > best["complete_within_700ms"]):
            best = sweep[-1]
    if best is None:
        return {"rows": len(rows), "error": "no threshold keeps the blend's pauses and no early end", "sweep": sweep}
    model = replace(model, threshold=best["threshold"])
    path.write_text(model.to_json(fitted_on="tuning split", checks=len(rows),
                                  words_ended=sum(1 for _, _, done in rows if done), hint_delay_ms=round(delay_s * 1000)),
                    encoding="utf-8")
    return {"rows": len(rows), "model": json.loads(model.to_json()), "chosen": best, "blend": {
        k: v for k, v in base.items() if k != "misses"}, "sweep": sweep}


def split_figures(pauses: Sequence[Recorded], completes: Sequence[Recorded], tools: TurnTools) -> dict[str, Any]:
    """The end-of-turn figures of one split: audio only, silence only, a word-list hint, and the LM
    hint as the daemon runs it (after the STT's and LM's time, weighed by the transcript's confidence)."""
    cfg, cache, pre, ctx = tools.cfg, tools.cache, tools.pre_roll_s, tools.context_s
    out: dict[str, Any] = {
        "config": {k: v for k, v in cfg.__dict__.items() if k not in ("semantic_weight",)},
        "context_s": ctx, "audio_only": True,  # the daemon's figure: with_lm_hint
        **score_turns(pauses, completes, cfg, cache, pre, ctx)}
    out["silence_only_500ms"] = score_turns(pauses, completes, replace(cfg, use_turn_model=False, max_silence_ms=500),
                                            cache, pre, 8.0)
    if tools.hints is None:
        return out
    hints = tools.hints
    hints.used.clear()
    optimistic = score_turns(pauses, completes, cfg, cache, pre, ctx, hints, 0.0)
    delay = hints.stt_seconds() if tools.delay_s is None else tools.delay_s
    out["with_text_hint"] = {
        "stt_ms_median": round(delay * 1000, 0), "hint_at_speech_end": optimistic,
        "hint_after_stt_time": score_turns(pauses, completes, cfg, cache, pre, ctx, hints, delay),
        "hint_after_stt_time_wait_600ms": score_turns(pauses, completes, replace(cfg, semantic_wait_ms=600), cache,
                                                      pre, ctx, hints, delay)}
    if tools.lm_hints is None:
        return out
    lm = tools.lm_hints
    daemon = cfg if cfg.semantic_wait_ms > 0 else replace(cfg, **HINT_POLICY)
    at_end = score_turns(pauses, completes, daemon, cache, pre, ctx, lm, 0.0, tools.trust)
    lm_delay = delay + (float(np.median(lm.score_seconds)) if lm.score_seconds else 0.0)
    if tools.delay_s is not None:
        lm_delay = tools.delay_s
    out["with_lm_hint"] = {
        "stt_plus_lm_ms_median": round(lm_delay * 1000, 0),
        "hint_at_speech_end": at_end,
        "hint_after_stt_and_lm_time": score_turns(  # what the daemon does (the hint is on when the wait is)
            pauses, completes, daemon, cache, pre, ctx, lm, lm_delay, tools.trust),
        "policy_with_hint": "configured" if cfg.semantic_wait_ms > 0 else HINT_POLICY,
        "hint_trust": tools.trust.__dict__,
        "vad_alone_no_level_rule": score_turns(pauses, completes, replace(daemon, quiet_drop_db=0.0), cache, pre,
                                               ctx, lm, lm_delay, tools.trust)}
    other = trained() if daemon.completeness is None else None
    if other is not None or daemon.completeness is not None:  # the other decision, beside the configured one
        out["with_lm_hint"]["trained_decision" if other is not None else "blend_decision"] = score_turns(
            pauses, completes, replace(daemon, completeness=other), cache, pre, ctx, lm, lm_delay, tools.trust)
    return out


def turn_splits(args: argparse.Namespace) -> dict[str, tuple[list[Utterance], list[Utterance]]]:
    """The generated turn sets of the splits asked for: ``tuning`` (the project's own set, which the
    policy is tuned on) and the held-out ones (:mod:`edge_agent.speechgen.heldout`, never tuned on)."""
    from edge_agent import speechgen
    from edge_agent.speechgen import heldout

    splits = {}
    if args.split in ("all", "tuning"):
        whole = args.tuning_whole_clips
        splits["tuning"] = (
            speechgen.pause_sentences(args.turn_clips) + (speechgen.whole_pause_sentences(whole) if whole else []),
            speechgen.complete_sentences(args.turn_clips) + (speechgen.inner_pause_commands(whole) if whole else []))
    for name in heldout.SPLITS:
        if args.split in ("all", name):
            splits[name] = (heldout.heldout_pause_sentences(args.heldout_clips, split=name),
                            heldout.heldout_complete_sentences(args.heldout_clips, split=name))
    return splits


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
    if args.tune or args.tune_hint or args.fit_completeness:
        args.split = "tuning"  # sweeps and fits look at the tuning split only, and so does the rest of such a run
    log(f"generating the turn sets ({args.split}; cached after the first run)...")
    splits = turn_splits(args)
    result: dict[str, Any] = {"runs": runs}
    turn = load_turn_detector(settings, models)
    if not args.turns_only:
        rng = np.random.default_rng(11)
        noise_only = [np.clip(np.round(speechgen.noise(k, SAMPLE_RATE * 10, rng) * a), -32768, 32767).astype(np.int16)
                      for k in ("white", "pink", "babble") for a in (100.0, 1000.0)]
        log("VAD fp32 vs int8...")
        speech = [u.samples for p, c in splits.values() for u in p + c]
        result["vad"] = vad_compare(models, speech + noise_only, settings.vad.threshold, runs)
        result["vad"]["default_precision"] = settings.vad.precision
        log("turn model...")
        result["turn_model"] = turn_ms(turn, next(iter(splits.values()))[1][0].samples, runs)

    vad = load_vad(settings, models)
    cache_dir = speechgen.cache_root()
    tools = TurnTools(PolicyConfig.from_settings(settings), TurnCache(turn, cache_dir / "smart-turn-answers.json"),
                      settings.turn.pre_roll_ms / 1000.0, settings.turn.max_context_s, hint_trust(settings),
                      delay_s=None if args.hint_delay_ms is None else args.hint_delay_ms / 1000.0)
    try:
        from edge_agent.stt.factory import create_stt

        stt_key = f"{settings.stt.engine}-{settings.stt.model}-{settings.stt.min_encoder_s:g}".replace("/", "_")
        tools.hints = TextHints(create_stt(settings, models), path=cache_dir / f"transcripts-{stt_key}.json")
        from edge_agent.listen.semantic import LmCompleteness

        lm = LmCompleteness(models.require("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf"))
        tools.lm_hints = TextHints(tools.hints.stt, lm.scored_hint)
        tools.lm_hints.disk = tools.hints.disk  # the same transcripts
    except EdgeAgentError as exc:  # no STT or LLM model: the audio-only figures still stand
        result["turn_hint_error"] = exc.message
    recorded = {}
    for name, (pauses_u, completes_u) in splits.items():
        log(f"turn policy, {name} split ({len(pauses_u)} + {len(completes_u)} clips)...")
        recorded[name] = ([record(vad, u) for u in pauses_u], [record(vad, u) for u in completes_u])
        key = "turn_policy" if name == "tuning" else f"turn_policy_{name}"
        result[key] = {"split": name, **split_figures(*recorded[name], tools)}
    tools.cache.save()
    if tools.hints is not None:
        tools.hints.save()
    if args.tune or args.tune_hint:
        pauses, completes = recorded["tuning"]
        if args.tune:
            log("sweeping audio-only policy variants (tuning split)...")
            result["tune"] = tune(pauses, completes, tools.cfg, tools.cache, tools.pre_roll_s)
        if args.tune_hint and tools.lm_hints is not None:
            log("sweeping the hint's confidence, disagreement and bounded wait (tuning split)...")
            delay = result["turn_policy"]["with_lm_hint"]["stt_plus_lm_ms_median"] / 1000.0
            daemon = tools.cfg if tools.cfg.semantic_wait_ms > 0 else replace(tools.cfg, **HINT_POLICY)
            result["tune_hint"] = tune_hint(pauses, completes, daemon, tools.cache, tools.pre_roll_s,
                                            tools.context_s, tools.lm_hints, delay, tools.trust)
        tools.cache.save()

    if args.fit_completeness and tools.lm_hints is not None:
        log("fitting the trained completeness decision (tuning split)...")
        delay = result["turn_policy"]["with_lm_hint"]["stt_plus_lm_ms_median"] / 1000.0
        result["fit_completeness"] = fit_completeness(*recorded["tuning"], tools, delay, Path(args.fit_completeness))
        tools.cache.save()

    if not args.turns_only:
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


def _turn_line(label: str, x: dict[str, Any]) -> str:
    return (f"  {label}: pauses cut {x['pause_false_end_rate'] * 100:.0f}% ({x.get('pause_cut', '?')}/{x['pause_clips']}), "
            f"complete ended before the last word {x['complete_cut_before_last_word']}, within 700 ms "
            f"{x['complete_within_700ms'] * 100:.0f}% of {x['complete_clips']} (median {x['end_latency_median_ms']} ms), "
            f"max-silence waits {x.get('complete_max_silence', '?')}")


def print_turns(name: str, p: dict[str, Any]) -> None:
    print(f"end of turn, {name} split:")
    print(_turn_line("audio only", p))
    h = p.get("with_text_hint", {})
    if "hint_after_stt_time" in h:
        print(_turn_line(f"word-list hint after STT ({h['stt_ms_median']} ms)", h["hint_after_stt_time"]))
    h = p.get("with_lm_hint", {})
    if "hint_at_speech_end" in h:
        print(_turn_line("LM hint at speech end", h["hint_at_speech_end"]))
        print(_turn_line(f"the daemon: LM hint after STT+LM ({h['stt_plus_lm_ms_median']} ms)",
                         h["hint_after_stt_and_lm_time"]))
    print(_turn_line("silence only, 500 ms", p["silence_only_500ms"]))


def print_summary(r: dict[str, Any]) -> None:
    if "idle" in r:
        i = r["idle"]
        print(f"idle (wake only): {i['wake_only_cpu_fraction'] * 100:.2f}% of one core; "
              f"wake + VAD: {i['wake_and_vad_cpu_fraction'] * 100:.2f}%; the real listener thread, paced: "
              f"{i['paced_thread_wake_only_cpu_fraction'] * 100:.2f}%")
    if "vad" in r:
        v, t = r["vad"], r["turn_model"]
        print(f"VAD: fp32 {v['fp32_us_per_frame']} us/frame, int8 {v['int8_us_per_frame']} us/frame, "
              f"agreement {v['agreement'] * 100:.2f}% over {v['frames']} frames (default {v['default_precision']})")
        print(f"turn model: {t['ms_per_call']} ms/call ({t['cpu_ms_per_call']} ms CPU)")
    for key, name in (("turn_policy", "tuning"), ("turn_policy_heldout", "held-out"),
                      ("turn_policy_heldout2", "second held-out"), ("turn_policy_heldout3", "third held-out"),
                      ("turn_policy_heldout4", "fourth held-out"), ("turn_policy_heldout5", "fifth held-out"),
                      ("turn_policy_heldout6", "sixth held-out")):
        if key in r:
            print_turns(name, r[key])
    if "wake" in r:
        w = r["wake"]
        print(f"wake ({w['keyword']}): recall {w['recall']:.3f}, false accepts/h {w['false_accepts_per_hour']:.2f}, "
              f"confusables {w['confusable_false_accepts']}")
    for row in r.get("tune", []) + r.get("tune_hint", []):
        print(json.dumps(row))
