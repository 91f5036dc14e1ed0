"""Wake word accuracy on the generated test set: recall, false accepts per hour, confusables.

``evaluate_wake(settings, models)`` measures the configured detector (and, with ``compare=True``,
every engine / second-stage combination) on:

- wake phrases (Piper at several speeds and pitches, espeak-ng voices; clean, 20 and 10 dB noise):
  recall = clips with a detection between the phrase's start and 1.5 s after its end;
- ordinary speech (about 10 minutes, no wake phrase): false accepts per hour;
- confusable phrases ("okay now", "hey travis", ...): clips with any detection;
- with ``draws``: the wake phrase and each confusable said by two voices in that many draws of 20 dB
  babble (:func:`edge_agent.speechgen.noise_draws`): the share of draws accepted, per phrase and voice.

Run alone: ``python -m edge_agent.bench.wake_eval --json [--compare] [--minutes 10] [--draws 10]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from edge_agent import speechgen
from edge_agent.audio import SAMPLE_RATE

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.listen.wake import WakeWordDetector
    from edge_agent.models import ModelManager

HOP = 320  # 20 ms, a typical listener hop
LATE_S = 1.5
Config = tuple[str, str, float | None, float, int]
CONFIGS: dict[str, Config] = {
    # name: (engine, verify, first-stage threshold (None = the engine's/stage's default),
    #        keyword classifier threshold (0 = the STT's spelling alone), STT looks per candidate)
    "micro": ("micro", "none", None, 0.0, 1),
    "micro@0.5": ("micro", "none", 0.5, 0.0, 1),
    "open": ("open", "none", None, 0.0, 1),
    "micro@0.5+engine": ("micro", "engine", 0.5, 0.0, 1),
    "micro@0.2+stt": ("micro", "stt", 0.2, 0.0, 1),
    "micro@0.1+stt": ("micro", "stt", 0.1, 0.0, 1),
    "micro@0.05+stt": ("micro", "stt", 0.05, 0.0, 1),
    "micro@0.03+stt": ("micro", "stt", 0.03, 0.0, 1),
    "micro@0.05+stt+classifier": ("micro", "stt", 0.05, 0.5, 1),
    "micro@0.03+stt+classifier": ("micro", "stt", 0.03, 0.5, 1),
    "micro@0.03+stt+classifier+3views": ("micro", "stt", 0.03, 0.5, 3),
}


def _run(det: WakeWordDetector, samples: Any) -> list[tuple[float, str, float]]:
    det.reset()
    hits = []
    for i in range(0, len(samples), HOP):
        d = det.process(samples[i : i + HOP])
        if d is not None:
            hits.append(((i + HOP) / SAMPLE_RATE, d.keyword, d.score))
    return hits


def _time_checks(det: WakeWordDetector) -> list[float]:
    """Wall seconds of each second-stage call from now on (the listener waits for them; empty
    without a second stage). The list is the caller's to clear."""
    walls: list[float] = []
    verifier = getattr(det, "verifier", None)
    if verifier is not None:
        confirm = verifier.confirm

        def timed(keyword: str, audio: Any) -> bool | None:
            t0 = time.perf_counter()
            try:
                return confirm(keyword, audio)  # type: ignore[no-any-return]
            finally:
                walls.append(time.perf_counter() - t0)

        verifier.confirm = timed
    return walls


def measure(det: WakeWordDetector, keyword: str, wake: Sequence[speechgen.Utterance],
            confusable: Sequence[speechgen.Utterance], ordinary: Sequence[speechgen.Utterance]) -> dict[str, Any]:
    cpu0 = time.process_time()
    detected = 0
    latencies = []
    missed = []
    check_wall = _time_checks(det)
    stalls = []  # per detected wake clip: wall seconds the listener spent waiting for the second stage
    for u in wake:
        seg = u.segments[0]
        check_wall.clear()
        ok = [t for t, kw, _ in _run(det, u.samples) if kw == keyword and seg.start_t <= t <= seg.end_t + LATE_S]
        if ok:
            detected += 1
            latencies.append(ok[0] - seg.end_t)
            stalls.append(sum(check_wall))
        else:
            missed.append(f"{u.voice} {u.noise}@{u.snr_db}")
    wake_cpu = time.process_time() - cpu0
    stalls.sort()
    cpu0 = time.process_time()
    conf_hits = []
    for u in confusable:
        if _run(det, u.samples):
            conf_hits.append(f"{u.text} [{u.voice} {u.noise}@{u.snr_db}]")
    fa = 0
    fa_where = []
    candidates = 0  # first-stage detections the second stage had to check
    for u in ordinary:
        hits = _run(det, u.samples)
        candidates += getattr(det, "candidates", 0)
        for t, kw, _ in hits:
            fa += 1
            near = [s.text for s in u.segments if s.start_t - 0.5 <= t <= s.end_t + 1.5]
            fa_where.append(f"{kw}@{t:.1f}s: {near[-1] if near else '?'}")
    ord_cpu = time.process_time() - cpu0
    hours = sum(u.duration for u in ordinary) / 3600.0
    latencies.sort()
    return {
        "recall": detected / len(wake) if wake else None,
        "wake_clips": len(wake),
        "missed": missed,
        "detection_delay_s_median": latencies[len(latencies) // 2] if latencies else None,
        "wake_check_wall_s_median": stalls[len(stalls) // 2] if stalls else None,
        "wake_check_wall_s_p90": stalls[int(len(stalls) * 0.9)] if stalls else None,
        "false_accepts_per_hour": fa / hours if hours else None,
        "false_accepts": fa,
        "ordinary_hours": hours,
        "false_accepts_at": fa_where,
        "second_stage_checks_per_hour": candidates / hours if hours else None,
        "confusable_false_accepts": len(conf_hits),
        "confusable_false_accepts_excluding_homophones": sum(
            1 for h in conf_hits if not any(h.startswith(x) for x in speechgen.HOMOPHONES)),
        "confusable_clips": len(confusable),
        "confusable_hits": conf_hits,
        "cpu_s_per_audio_s_speech": ord_cpu / (hours * 3600.0) if hours else None,
        "cpu_s_per_audio_s_wake_set": wake_cpu / sum(u.duration for u in wake) if wake else None,
    }


def measure_draws(det: WakeWordDetector, keyword: str, clips: Sequence[speechgen.Utterance]) -> dict[str, Any]:
    """Per phrase and voice: draws accepted (the wake phrase: on time, as recall counts it; a confusable:
    any detection)."""
    rates: dict[str, list[int]] = {}
    for u in clips:
        seg = u.segments[0]
        hits = _run(det, u.samples)
        if u.kind == "wake":
            hit = any(kw == keyword and seg.start_t <= t <= seg.end_t + LATE_S for t, kw, _ in hits)
        else:
            hit = bool(hits)
        counts = rates.setdefault(f"{u.text} [{u.voice} {u.noise}@{u.snr_db:g}]", [0, 0])
        counts[0] += hit
        counts[1] += 1
    return {name: {"accepted": a, "draws": n, "rate": round(a / n, 3)} for name, (a, n) in rates.items()}


def _build(settings: Settings, models: ModelManager, engine: str, verify: str,
           threshold: float | None, classifier: float, views: int) -> WakeWordDetector:
    from edge_agent.listen.wake import build_wake_detector

    s = settings.model_copy(deep=True)
    s.wake.engine = engine  # type: ignore[assignment]
    s.wake.verify = verify  # type: ignore[assignment]
    s.wake.classifier_threshold = classifier
    s.wake.stt_views = views
    if verify == "none":
        s.wake.threshold = threshold
    else:
        s.wake.verify_threshold = threshold
    return build_wake_detector(s, models)


def evaluate_wake(settings: Settings, models: ModelManager, compare: bool = False, minutes: float = 10.0,
                  wake_n: int = 48, progress: Callable[[str], None] | None = None, draws: int = 0) -> dict[str, Any]:
    """Figures for the configured detector; with ``compare``, for every configuration in CONFIGS; with
    ``draws``, the configured detector's rates over that many noise draws (``noise_draws``)."""
    keyword = settings.wake.keywords[0]
    wake = speechgen.wake_set(keyword, wake_n)
    confusable = speechgen.confusable_set()
    ordinary = speechgen.ordinary_speech(minutes)
    stt = settings.wake.verify == "stt"
    configs: dict[str, Config] = {
        "configured": (str(settings.wake.engine), settings.wake.verify,
                       settings.wake.threshold if settings.wake.verify == "none" else settings.wake.verify_threshold,
                       settings.wake.classifier_threshold if stt else 0.0, settings.wake.stt_views if stt else 1)}
    if compare:
        configs.update(CONFIGS)
    out: dict[str, Any] = {"keyword": keyword, "set": {
        "wake_clips": len(wake), "confusable_clips": len(confusable),
        "ordinary_minutes": round(sum(u.duration for u in ordinary) / 60.0, 2)}, "configs": {}}
    from edge_agent.listen.wake.factory import default_first_stage_threshold

    def resolved(c: Config) -> Config:
        """``c`` with a second stage's default first-stage threshold filled in."""
        engine, verify, threshold, classifier, views = c
        if verify != "none" and threshold is None:
            threshold = default_first_stage_threshold(engine, verify)
        return engine, verify, threshold, classifier, views

    done: dict[Config, dict[str, Any]] = {}
    for name, config in configs.items():
        key = engine, verify, threshold, classifier, views = resolved(config)
        if key in done:  # the configured detector is also in CONFIGS
            out["configs"][name] = done[key]
            continue
        if progress:
            progress(name)
        det = _build(settings, models, engine, verify, threshold, classifier, views)
        try:
            result = measure(det, keyword, wake, confusable, ordinary)
        finally:
            det.close()
        result.update({"engine": engine, "verify": verify, "threshold": threshold, "classifier_threshold": classifier,
                       "stt_views": views})
        out["configs"][name] = done[key] = result
    if draws:
        if progress:
            progress(f"configured, {draws} noise draws")
        det = _build(settings, models, *resolved(configs["configured"]))
        try:
            out["noise_draws"] = measure_draws(det, keyword, speechgen.noise_draws(keyword, draws))
        finally:
            det.close()
    best = out["configs"]["configured"]
    out.update({k: best[k] for k in ("recall", "false_accepts_per_hour", "confusable_false_accepts",
                                      "cpu_s_per_audio_s_speech")})
    return out


def main(argv: list[str] | None = None) -> int:
    from edge_agent.config import load_settings
    from edge_agent.errors import EdgeAgentError
    from edge_agent.models import ModelManager

    p = argparse.ArgumentParser(prog="python -m edge_agent.bench.wake_eval", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="config file (default: the usual search)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--compare", action="store_true", help="also measure every engine / second-stage combination")
    p.add_argument("--minutes", type=float, default=10.0, help="ordinary speech for false accepts per hour")
    p.add_argument("--wake-n", type=int, default=48, help="wake phrase clips")
    p.add_argument("--draws", type=int, default=0,
                   help="also: the wake phrase and each confusable in this many draws of 20 dB babble, two voices")
    p.add_argument("--verbose", action="store_true", help="keep the lists of misses and false accepts")
    args = p.parse_args(argv)
    try:
        settings = load_settings(args.config)
        models = ModelManager(settings.paths.models_dir)
        result = evaluate_wake(settings, models, args.compare, args.minutes, args.wake_n,
                               progress=lambda n: print(f"measuring {n}...", file=sys.stderr), draws=args.draws)
    except EdgeAgentError as exc:
        print(f"edge-agent: {exc.message}", file=sys.stderr)
        return exc.exit_code
    if not args.verbose:
        for r in result["configs"].values():
            for k in ("missed", "false_accepts_at", "confusable_hits"):
                r[k] = r[k][:5]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, r in result["configs"].items():
            print(f"{name:14s} recall {r['recall']:.3f}  FA/h {r['false_accepts_per_hour']:.2f}  "
                  f"confusables {r['confusable_false_accepts']}/{r['confusable_clips']}  "
                  f"cpu {r['cpu_s_per_audio_s_speech']:.4f} s/s")
        for name, d in result.get("noise_draws", {}).items():
            print(f"  {name}: {d['accepted']}/{d['draws']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
