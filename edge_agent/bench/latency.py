"""``edge-agent bench latency``: voice-to-voice latency through the real pipeline, cold start, peak RSS.

Turns: generated spoken commands (the Piper voice, ``speechgen.commands``) are fed in real time
through the whole daemon (paced input -> listener (VAD, Smart Turn) -> STT -> LLM -> TTS -> WAV
sink). Each turn is opened push-to-talk style (the wake word is not part of the latency) and the
next command starts only once the agent is quiet again. ``voice_to_voice_ms`` is the daemon's own
measure: the last sample of the user's speech to the first reply sample handed to the sink, on the
input's real-time clock. By default a reply is cut 0.3 s after it starts (only its start is
measured; ``--full-replies`` lets every reply play out).

Cold start and peak RSS come from separate ``edge-agent run`` processes on a short question WAV:
process start to listening (the daemon's own log line), and the child's ``ru_maxrss`` with every
default model loaded and one turn answered."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.files import PacedInput

TARGETS = {"voice_to_voice_p50_ms": 800, "voice_to_voice_p95_ms": 1200, "cold_start_s": 5.0, "peak_rss_mb": 800}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("latency", help="benchmark: voice-to-voice latency, cold start, peak RSS",
                       description="Voice-to-voice latency over generated spoken commands paced in real time "
                                   "through the real pipeline (p50, p95, per-stage breakdown), cold start and peak RSS.")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--utterances", "-n", type=int, default=24, help="spoken commands to answer (default 24, at least 20 for the targets)")
    p.add_argument("--cold-starts", type=int, default=3, help="cold-start runs (median reported; 0 skips, and skips RSS)")
    p.add_argument("--full-replies", action="store_true", help="let every reply play out instead of cutting it after 0.3 s")
    p.add_argument("--no-llm-probe", action="store_true", help="skip the LLM first-token cold/warm probe")
    p.add_argument("--split", choices=("tuning", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6"),
                   default="tuning",
                   help="tuning: the generated commands in the Piper voice (default); heldout2-6: the end of turn's "
                        "held-out voices, noises and sentences (speechgen.heldout), never tuned on (heldout6 the "
                        "clean one; the others have been looked at)")
    p.add_argument("--route", choices=("answers", "llm"), default="answers",
                   help="answers: every turn through the answer router, as the daemon does (default); "
                        "llm: every turn to the LLM (answers.enabled = false), as a pipeline without intents")
    p.set_defaults(func=run)


# --- a scripted, real-time input ----------------------------------------------------------------


class ScriptedInput(PacedInput):
    """Silence in real time, with utterances spliced in when :meth:`say` is called: the daemon's
    input (like ``WavInput``), paced hop by hop from its own thread until stopped."""

    def __init__(self) -> None:
        super().__init__(paced=True)
        self._queue: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.spoken_at: list[float] = []
        """audio_t at which each utterance began."""
        self.quiet = threading.Event()
        """Set while nothing is queued or being played into the input."""
        self.quiet.set()

    def say(self, audio: np.ndarray) -> None:
        with self._lock:
            self._queue.append(audio)
            self.quiet.clear()

    def hops(self, hop: int) -> Iterator[np.ndarray]:
        silence = np.zeros(hop, np.int16)
        current: np.ndarray | None = None
        pos = 0
        while True:
            if current is None:
                with self._lock:
                    if self._queue:
                        current, pos = self._queue.pop(0), 0
                        self.spoken_at.append(self.written / SAMPLE_RATE)
                    else:
                        self.quiet.set()
            if current is None:
                yield silence
                continue
            frame = current[pos:pos + hop]
            if len(frame) < hop:
                frame = np.concatenate([frame, silence[: hop - len(frame)]])
            pos += hop
            if pos >= len(current):
                current = None
            yield frame


# --- the measurement --------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=float), q))


def by_route(turns: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per answer route (``intent``, ``knowledge``, ``chitchat``, ``decline``, ``llm`` ...): voice-to-voice
    p50/p95, and p50/p95 of the time from the end of the turn (the endpoint decision) to the first
    reply sample, which is what the answer itself costs."""
    groups: dict[str, list[tuple[float, float | None]]] = {}
    for t in turns:
        if t["voice_to_voice_ms"] is not None:
            endpoint = t.get("stages", {}).get("endpoint")
            after = t["voice_to_voice_ms"] - endpoint if endpoint is not None else None
            groups.setdefault(t.get("route", "llm"), []).append((t["voice_to_voice_ms"], after))
    out: dict[str, dict[str, float]] = {}
    for route, rows in sorted(groups.items()):
        v2v = [v for v, _ in rows]
        after = [a for _, a in rows if a is not None]
        out[route] = {"n": len(rows), "p50": percentile(v2v, 50), "p95": percentile(v2v, 95),
                      "after_turn_end_p50": percentile(after, 50), "after_turn_end_p95": percentile(after, 95)}
    return out


def word_error_rate(ref: str, hyp: str) -> tuple[int, int]:
    """(edits, reference words) after lower-casing and dropping punctuation."""
    r = re.sub(r"[^a-z0-9' ]", " ", ref.lower()).split()
    h = re.sub(r"[^a-z0-9' ]", " ", hyp.lower()).split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)], len(r)


async def measure_turns(settings: Any, utterances: list[Any], full_replies: bool, out_dir: Path,
                        log: Callable[[str], None]) -> dict[str, Any]:
    from edge_agent.app.lifecycle import Daemon, RunOptions
    from edge_agent.bus import EventBus
    from edge_agent.events import Event, TurnDone

    source = ScriptedInput()
    bus = EventBus()
    events: list[Event] = []
    turn_done = asyncio.Event()
    audio_out = asyncio.Event()

    def on_event(e: Event) -> None:
        events.append(e)
        if isinstance(e, TurnDone):
            loop.call_soon_threadsafe(turn_done.set)
        elif str(e.type) == "audio_out_start":
            loop.call_soon_threadsafe(audio_out.set)

    loop = asyncio.get_running_loop()
    bus.subscribe(on_event)
    daemon = Daemon(settings, RunOptions(output_wav=out_dir / "bench-replies.wav", source=source, stay=True), bus)
    task = asyncio.create_task(daemon.run())
    while daemon.cold_start_s is None:
        if task.done():
            task.result()  # start-up failed: raise its error
        await asyncio.sleep(0.05)
    conv = daemon.control
    results: list[dict[str, Any]] = []
    try:
        await asyncio.sleep(0.5)
        for i, utt in enumerate(utterances):
            await conv.wait_idle()
            await asyncio.sleep(0.6)  # quiet between turns, as people leave
            turn_done.clear()
            audio_out.clear()
            first = len(events)
            conv.wake()  # push-to-talk: the listener starts a turn at once
            source.say(utt.samples)
            if not full_replies:
                try:
                    await asyncio.wait_for(audio_out.wait(), timeout=utt.duration + 15)
                    await asyncio.sleep(0.3)
                    conv.cancel()
                except asyncio.TimeoutError:  # what wait_for raises on 3.10
                    pass
            try:
                await asyncio.wait_for(turn_done.wait(), timeout=utt.duration + 20)
            except asyncio.TimeoutError:
                log(f"  turn {i + 1}: no reply")
            # a turn ended inside the utterance (a cut-off): the rest of it must not spill into the
            # next measurement, so wait until it has been said and whatever it started is over
            await asyncio.to_thread(source.quiet.wait, utt.duration + 20)
            await asyncio.sleep(0.3)
            if conv.busy:
                conv.cancel()
                await conv.wait_idle()
            turn = events[first:]
            ends = [e.audio_t for e in turn if str(e.type) == "turn_end" and e.audio_t is not None]
            last_word = source.spoken_at[-1] + utt.last_word_t if utt.last_word_t is not None else None
            done = next((e for e in turn if isinstance(e, TurnDone)), None)
            text = " ".join(getattr(e, "text", "") for e in turn if str(e.type) == "transcript")
            route = next((getattr(e, "source", "") for e in turn if str(e.type) == "answer_routed"), "llm")
            # ended before the user's last word: a cut-off, whose latency would mean nothing
            split = len(ends) > 1 or bool(ends and last_word is not None and ends[0] < last_word - 0.05)
            row = {"reference": utt.reference or utt.text, "transcript": text, "route": route,
                   "ended_inside": split,
                   "voice_to_voice_ms": done.voice_to_voice_ms if done and not split else None,
                   "stages": dict(done.stages) if done and not split else {}}
            results.append(row)
            v2v = row["voice_to_voice_ms"]
            if split:
                log(f"  turn {i + 1:2d}: ended before the last word ({len(ends)} turn ends): not timed | {text}")
                continue
            log(f"  turn {i + 1:2d}: {v2v if v2v is not None else float('nan'):7.0f} ms  "
                f"{' '.join(f'{k}={v:.0f}' for k, v in row['stages'].items())}  | {route:9s} | {text}")
    finally:
        daemon.stop()
        await task
    return {"turns": results, "cold_start_in_process_s": daemon.cold_start_s}


def measure_cold_start(runs: int, question_wav: Path, out_dir: Path) -> dict[str, Any]:
    """``edge-agent run`` in fresh processes: process start to listening, and the peak RSS."""
    import resource

    starts: list[float] = []
    rss: list[float] = []
    for i in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run(
            [sys.executable, "-m", "edge_agent", "run", "--input", str(question_wav), "--output",
             str(out_dir / f"cold-{i}.wav"), "--fast", "--log-level", "info"],
            capture_output=True, text=True, timeout=180)
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        m = re.search(r"cold start ([0-9.]+) s", proc.stderr)
        if proc.returncode != 0 or m is None:
            raise RuntimeError(f"cold-start run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        starts.append(float(m.group(1)))
        if after > before or i == 0:
            rss.append(after / 1024)  # ru_maxrss is in KiB on Linux: the largest child so far
    return {"cold_start_s": {"median": statistics.median(starts), "runs": starts},
            "peak_rss_mb": max(rss) if rss else None}


def direct_wer(settings: Any, utterances: list[Any]) -> float | None:
    """The same STT engine called directly on each whole file: the pipeline's WER is held to this."""
    from edge_agent.stt.factory import create_stt

    stt = create_stt(settings)
    edits = words = 0
    for utt in utterances:
        e, n = word_error_rate(utt.reference or utt.text, stt.transcribe(utt.samples))
        edits, words = edits + e, words + n
    return edits / words if words else None


def llm_first_token_probe(settings: Any) -> dict[str, float]:
    """First-token time of the local model: a fresh model with a cold KV cache, against one whose
    system prompt was evaluated at load (what the daemon does), each on the same question."""
    from edge_agent.llm.local import build_local_llm
    from edge_agent.models import manager_from_settings

    models = manager_from_settings(settings)
    question = [{"role": "user", "content": "What can you do for me?"}]

    async def first_token(llm: Any) -> float:
        t0 = time.perf_counter()
        async for d in llm.stream(question):
            if d.text:
                return (time.perf_counter() - t0) * 1000
        return float("nan")

    cold_runs, warm_runs = [], []
    for _ in range(3):
        llm = build_local_llm(settings, models)
        cold_runs.append(asyncio.run(first_token(llm)))
        llm.close()
        llm = build_local_llm(settings, models)
        llm.warm()
        warm_runs.append(asyncio.run(first_token(llm)))
        llm.close()
    return {"cold_ms": statistics.median(cold_runs), "warm_ms": statistics.median(warm_runs)}


def run(args: argparse.Namespace) -> int:
    from edge_agent.config import load_settings
    from edge_agent.errors import UsageError
    from edge_agent.speechgen import PIPER_VOICES, commands, demo_conversation

    if args.utterances < 1:
        raise UsageError("--utterances must be at least 1")
    settings = load_settings(getattr(args, "config", None))
    if args.route == "llm":
        settings = settings.model_copy(update={"answers": settings.answers.model_copy(update={"enabled": False})})
    quiet = args.json

    def log(line: str) -> None:
        if not quiet:
            print(line, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    log(f"generating {args.utterances} spoken commands (cached after the first run)...")
    if args.split == "tuning":
        utterances = commands(args.utterances, voices=PIPER_VOICES)
    else:
        from edge_agent.speechgen.heldout import heldout_complete_sentences

        utterances = heldout_complete_sentences(args.utterances, tail_s=1.0, split=args.split)
    out: dict[str, Any] = {"utterances": len(utterances), "split": args.split, "route": args.route,
                           "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        tmp_dir = Path(tmp)
        if args.cold_starts > 0:
            from edge_agent.audio.wav import write_wav

            log(f"cold start: {args.cold_starts} fresh `edge-agent run` processes...")
            question = tmp_dir / "question.wav"
            write_wav(question, demo_conversation().samples, SAMPLE_RATE)
            out.update(measure_cold_start(args.cold_starts, question, tmp_dir))
        if not args.no_llm_probe:
            out["llm_first_token_ms"] = llm_first_token_probe(settings)
        log(f"{len(utterances)} turns in real time through the pipeline...")
        measured = asyncio.run(measure_turns(settings, utterances, args.full_replies, tmp_dir, log))
    turns = measured["turns"]
    v2v = [t["voice_to_voice_ms"] for t in turns if t["voice_to_voice_ms"] is not None]
    stages: dict[str, list[float]] = {}
    for t in turns:
        for k, v in t["stages"].items():
            stages.setdefault(k, []).append(v)
    edits = words = 0
    for t in turns:
        e, n = word_error_rate(t["reference"], t["transcript"])
        edits, words = edits + e, words + n
    out.update({
        "turns_answered": len(v2v),
        "utterances_ended_before_last_word": sum(t.get("ended_inside", False) for t in turns),
        "voice_to_voice_ms": {"p50": percentile(v2v, 50), "p95": percentile(v2v, 95), "p99": percentile(v2v, 99),
                              "mean": statistics.fmean(v2v) if v2v else None, "max": max(v2v) if v2v else None},
        "voice_to_voice_by_route_ms": by_route(turns),
        "stages_ms": {k: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in stages.items()},
        "pipeline_wer": edits / words if words else None,
        "direct_wer": direct_wer(settings, utterances),
        "cold_start_in_process_s": measured["cold_start_in_process_s"],
        "targets": TARGETS,
        "turns": turns,
    })
    if args.json:
        print(json.dumps(out, indent=2, default=float))
        return 0
    vv = out["voice_to_voice_ms"]
    print(f"\nvoice to voice over {len(v2v)}/{len(turns)} turns: p50 {vv['p50']:.0f} ms, p95 {vv['p95']:.0f} ms, "
          f"p99 {vv['p99']:.0f} ms (targets {TARGETS['voice_to_voice_p50_ms']} / {TARGETS['voice_to_voice_p95_ms']} ms)")
    for route, r in out["voice_to_voice_by_route_ms"].items():
        print(f"  answered by {route:9s} {r['n']:3d} turns: p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms; "
              f"after the turn's end p50 {r['after_turn_end_p50']:.0f} ms, p95 {r['after_turn_end_p95']:.0f} ms")
    for k, v in out["stages_ms"].items():
        print(f"  {k:18s} p50 {v['p50']:6.0f} ms   p95 {v['p95']:6.0f} ms")
    if "cold_start_s" in out:
        print(f"cold start (process start to listening): median {out['cold_start_s']['median']:.2f} s "
              f"(target {TARGETS['cold_start_s']} s); peak RSS {out['peak_rss_mb']:.0f} MB (target {TARGETS['peak_rss_mb']} MB)")
    if "llm_first_token_ms" in out:
        ft = out["llm_first_token_ms"]
        print(f"LLM first token: cold KV cache {ft['cold_ms']:.0f} ms, system prompt warm {ft['warm_ms']:.0f} ms")
    if out["pipeline_wer"] is not None:
        print(f"STT word error rate through the pipeline: {out['pipeline_wer']:.3f} "
              f"(the engine on the whole files: {out['direct_wer']:.3f})")
    print(f"load average during the run: {', '.join(f'{x:.1f}' for x in out['load_average'])}")
    return 0
