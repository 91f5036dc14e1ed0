#!/usr/bin/env python3
"""Run the benchmarks and rewrite their tables in ``docs/benchmarks.md``.

    python tools/bench_report.py                      # every benchmark (long: the listen and wake ones take many minutes)
    python tools/bench_report.py ringbuf mqtt         # only these; the other tables stay as they are
    python tools/bench_report.py --save-json out/     # also keep each benchmark's raw JSON
    python tools/bench_report.py --from-json out/     # render saved JSON again, running nothing
    python tools/bench_report.py --summary-only       # only rebuild README.md's table from docs/benchmarks.md

Each benchmark runs in a fresh process with ``--json`` (``python -m edge_agent bench NAME --json``,
``python -m edge_agent.bench.wake_eval --json --compare``); its table replaces what sits between
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in the document, with a line saying when, at which
commit and on which machine (CPU model, cores, load average) it was measured. Then the README's
benchmark table (between ``<!-- bench:summary -->`` markers) is rebuilt from those tables, one figure
per row (:data:`SUMMARY`). A benchmark that fails keeps its old table and the tool exits 1. Run it from the checkout whose code is to be measured, on a
machine with nothing else running: the figures are only as quiet as the machine."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"

Row = tuple[str, ...]
"""One table row, e.g. what, the figure, its target ("" when it has none)."""


# --- the machine and the commit -----------------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    when: str
    commit: str
    cpu: str
    cores: int
    load: tuple[float, float, float]

    def line(self, command: str) -> str:
        load = " ".join(f"{x:.1f}" for x in self.load)
        return (f"_Measured {self.when} at commit `{self.commit}` on {self.cpu}, {self.cores} cores "
                f"(load average {load} at the start), by `{command}`._")


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (x86 ``model name``, ARM ``Model`` or ``Hardware``),
    else what :mod:`platform` knows."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    for key in ("model name", "Model", "Hardware"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        if m:
            return f"{m.group(1).strip()} ({platform.machine()})"
    return platform.processor() or platform.machine() or "unknown CPU"


def git_commit(root: Path = ROOT) -> str:
    """The short commit, with ``+changes`` when tracked files differ from it (the figures are of those)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def current_stamp() -> Stamp:
    return Stamp(when=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), commit=git_commit(),
                 cpu=cpu_model(), cores=os.cpu_count() or 1, load=os.getloadavg())


# --- formatting helpers -------------------------------------------------------------------------


def num(value: Any, digits: int = 0, unit: str = "") -> str:
    """A figure for a table cell; a missing one is an en dash."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    text = f"{value:,.{digits}f}" if isinstance(value, int | float) else str(value)
    if unit == "%":
        return text + unit
    return f"{text} {unit}" if unit else text


def pct(fraction: Any, digits: int = 1) -> str:
    """A fraction (0.958) as a percentage (95.8%)."""
    return "–" if fraction is None else num(fraction * 100, digits, "%")


def table(rows: list[Row], header: Row = ("figure", "measured", "target")) -> list[str]:
    lines = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    lines += [f"| {' | '.join(cell or '' for cell in row)} |" for row in rows]
    return lines


# --- one renderer per benchmark: its JSON -> the lines of its section -----------------------------


def render_ringbuf(r: dict[str, Any]) -> list[str]:
    return table([
        ("C ring / Python ring, samples per second", num(r.get("ratio"), 2), "≥ 10"),
        ("C ring", num(r.get("c_samples_per_s"), 0, "samples/s"), ""),
        ("pure-Python/numpy ring", num(r.get("python_samples_per_s"), 0, "samples/s"), ""),
    ])


def _turn_rows(label: str, s: dict[str, Any] | None, targets: bool) -> list[Row]:
    if not s:
        return []
    return [
        (f"{label}: pauses cut (false end at the 0.7 s pause)", pct(s.get("pause_false_end_rate")),
         "≤ 10%" if targets else ""),
        (f"{label}: complete sentences ended ≤ 700 ms after the last word", pct(s.get("complete_within_700ms")),
         "≥ 90%" if targets else ""),
        (f"{label}: median end after the last word", num(s.get("end_latency_median_ms"), 0, "ms"), ""),
    ]


def _heldout_rows(label: str, s: dict[str, Any] | None) -> list[Row]:
    """The held-out targets (issue 19): fewer pauses cut, none ended early, and 95% within 700 ms."""
    if not s:
        return []
    return [
        (f"{label}: pauses cut ({num(s.get('pause_clips'))} clips)", pct(s.get("pause_false_end_rate")), "≤ 5%"),
        (f"{label}: complete sentences ended before the last word", num(s.get("complete_cut_before_last_word")), "0"),
        (f"{label}: complete sentences ended ≤ 700 ms after the last word", pct(s.get("complete_within_700ms")),
         "≥ 95%"),
        (f"{label}: turns that waited for the maximum silence", num(s.get("complete_max_silence")), ""),
        *([(f"{label}: turns not ended by the clip's end (speech-like noise)", num(s["complete_not_ended"]), "")]
          if s.get("complete_not_ended") else []),
    ]


def render_listen(r: dict[str, Any]) -> list[str]:
    idle, vad, turn, policy = r.get("idle", {}), r.get("vad", {}), r.get("turn_model", {}), r.get("turn_policy", {})
    rows: list[Row] = [
        ("idle CPU, wake word alone (of one core)", pct(idle.get("wake_only_cpu_fraction"), 2), "≤ 2%"),
        ("idle CPU, wake word + VAD", pct(idle.get("wake_and_vad_cpu_fraction"), 2), ""),
        ("idle CPU, the real listener thread, paced", pct(idle.get("paced_thread_wake_only_cpu_fraction"), 2), "≤ 2%"),
        (f"VAD int8 agreement with fp32 ({num(vad.get('frames'))} frames)", pct(vad.get("agreement"), 2), "≥ 99%"),
        ("VAD per 32 ms frame, int8 / fp32",
         f"{num(vad.get('int8_us_per_frame'), 1)} / {num(vad.get('fp32_us_per_frame'), 1)} µs", "int8 ≤ fp32"),
        ("turn model (Smart Turn) per call", num(turn.get("ms_per_call"), 1, "ms"), ""),
    ]
    lm = policy.get("with_lm_hint", {})
    if lm.get("hint_after_stt_and_lm_time"):
        rows += _turn_rows(f"end of turn, default (hint after this run's STT + LM, "
                           f"{num(lm.get('stt_plus_lm_ms_median'), 0, 'ms')})", lm["hint_after_stt_and_lm_time"], True)
        rows += _turn_rows("end of turn, hint at speech end", lm.get("hint_at_speech_end"), False)
    else:
        rows += _turn_rows("end of turn, audio only", policy, True)
    rows += _turn_rows("end of turn, silence only (500 ms)", policy.get("silence_only_500ms"), False)
    for key, name in (("turn_policy_heldout", "held-out split"), ("turn_policy_heldout2", "second held-out split"),
                      ("turn_policy_heldout3", "third held-out split (sentences said whole)"),
                      ("turn_policy_heldout4", "fourth held-out split (said whole, inner pauses)"),
                      ("turn_policy_heldout5", "fifth held-out split (said whole, inner pauses)"),
                      ("turn_policy_heldout6", "sixth held-out split (said whole, inner pauses; clean)")):
        held = r.get(key, {}).get("with_lm_hint", {}).get("hint_after_stt_and_lm_time")
        rows += _heldout_rows(f"end of turn, {name}", held)
    wake = r.get("wake")
    if wake:
        rows += _wake_rows(wake.get("configs", {}).get("configured", wake))
    return table(rows)


def _wake_rows(w: dict[str, Any]) -> list[Row]:
    confusables = num(w.get("confusable_false_accepts"))
    if w.get("confusable_false_accepts_excluding_homophones") is not None:
        confusables += f" of {num(w.get('confusable_clips'))} ({num(w['confusable_false_accepts_excluding_homophones'])} " \
                       "without the homophone)"
    return [
        (f"wake recall ({num(w.get('wake_clips'))} clips)", num(w.get("recall"), 3), "≥ 0.95"),
        ("wake false accepts per hour of ordinary speech", num(w.get("false_accepts_per_hour"), 1), "≤ 1"),
        ("wake confusable phrases accepted", confusables, "0 (the homophone apart)"),
        ("wake CPU per audio second of speech", num(w.get("cpu_s_per_audio_s_speech"), 3, "s"), ""),
        ("listener's wait at a wake, median / p90",
         f"{num(w.get('wake_check_wall_s_median'), 2)} / {num(w.get('wake_check_wall_s_p90'), 2)} s", ""),
    ]


def render_latency(r: dict[str, Any]) -> list[str]:
    v2v, cold, ft = r.get("voice_to_voice_ms", {}), r.get("cold_start_s", {}), r.get("llm_first_token_ms", {})
    rows: list[Row] = [
        (f"voice to voice p50 ({num(r.get('turns_answered'))} of {num(r.get('utterances'))} turns answered)",
         num(v2v.get("p50"), 0, "ms"), "≤ 800 ms"),
        ("voice to voice p95", num(v2v.get("p95"), 0, "ms"), "≤ 1200 ms"),
        ("voice to voice p99", num(v2v.get("p99"), 0, "ms"), ""),
        ("utterances ended before their last word (cut off: not timed)",
         num(r.get("utterances_ended_before_last_word")), "0"),
        ("voice to voice max", num(v2v.get("max"), 0, "ms"), ""),
        ("cold start (process start to listening), median", num(cold.get("median"), 2, "s"), "≤ 5 s"),
        ("peak RSS", num(r.get("peak_rss_mb"), 0, "MB"), "≤ 800 MB"),
        ("STT word error rate, through the pipeline / the engine alone",
         f"{num(r.get('pipeline_wer'), 3)} / {num(r.get('direct_wer'), 3)}", "equal"),
    ]
    if ft:
        rows.append(("LLM first token, cold KV cache / system prompt warm",
                     f"{num(ft.get('cold_ms'), 0)} / {num(ft.get('warm_ms'), 0)} ms", ""))
    lines = table(rows)
    routes = r.get("voice_to_voice_by_route_ms", {})
    if routes:
        lines += ["", f"By what answered the turn (`--route {r.get('route', 'answers')}`; milliseconds; "
                      "after the turn's end: from the endpoint decision to the first reply sample):", ""]
        lines += table([(name, num(g.get("n")), f"{num(g.get('p50'), 0)} / {num(g.get('p95'), 0)}",
                         f"{num(g.get('after_turn_end_p50'), 0)} / {num(g.get('after_turn_end_p95'), 0)}")
                        for name, g in routes.items()],
                       header=("answered by", "turns", "voice to voice p50 / p95", "after the turn's end p50 / p95"))
    stages = r.get("stages_ms", {})
    if stages:
        lines += ["", "Where a turn's time goes (milliseconds, over the same turns):", ""]
        lines += table([(name, num(s.get("p50"), 0), num(s.get("p95"), 0)) for name, s in stages.items()],
                       header=("stage", "p50", "p95"))
    return lines


def render_mqtt(r: dict[str, Any]) -> list[str]:
    rows: list[Row] = []
    o = r.get("outage")
    if o:
        rows += [
            (f"QoS 1 events lost over a {num(o.get('outage_s'))} s broker outage",
             f"{num(o.get('events_lost'))} of {num(o.get('events_sent'))} "
             f"({num(o.get('events_during_outage'))} sent during the outage)", "0"),
            ("duplicates", num(o.get("duplicates")), ""),
            ("reconnect after the broker is back", num(o.get("reconnect_after_broker_start_s"), 2, "s"), ""),
            ("availability / state right after the reconnect",
             f"{num(o.get('availability_after_reconnect_s'), 2)} / {num(o.get('state_after_reconnect_s'), 2)} s", "≤ 1 s"),
        ]
    f = r.get("fuzz")
    if f:
        d = f.get("listener_delay", {})
        rows += [
            (f"malformed commands ({num(f.get('commands'))} at {num(f.get('commands_per_s'))}/s): crashes / unhandled",
             f"{num(f.get('crashes'))} / {num(f.get('unhandled_exceptions'))}", "0 / 0"),
            ("a 10 ms listener loop's delay meanwhile, max / p99",
             f"{num(d.get('max_ms'), 1)} / {num(d.get('p99_ms'), 1)} ms", "max ≤ 10 ms"),
        ]
    return table(rows)


def render_cloud(r: dict[str, Any]) -> list[str]:
    c, f, q, h = r.get("region_choice", {}), r.get("failover", {}), r.get("faulted", {}), r.get("hedging", {})
    scenarios = f.get("scenarios", {})
    worst = max((s.get("first_token_ms", {}).get("max") or 0.0 for s in scenarios.values()), default=None)
    rows: list[Row] = [
        ("nearest region chosen (RTTs 20 ms apart)", f"{num(c.get('nearest_chosen'))}/{num(c.get('trials'))}", "100%"),
        (f"failover: worst first token over {len(scenarios)} scenarios, budget {num(f.get('budget_ms'))} ms",
         num(worst, 0, "ms"), f"≤ {num((f.get('budget_ms') or 0) + 200)} ms"),
        (f"faulted requests ({num(q.get('requests'))}): answered / apologised / unhandled",
         f"{num(q.get('answered'))} / {num(q.get('apologised'))} / {num(q.get('unhandled_exceptions'))}",
         "0 unhandled"),
    ]
    if h:
        off, on = h.get("hedge_off", {}), h.get("hedge_on", {})
        rows.append((f"hedging ({num(h.get('requests'))} requests): p95 first token off → on",
                     f"{num(off.get('first_token_ms', {}).get('p95'), 0)} → {num(on.get('first_token_ms', {}).get('p95'), 0)} ms "
                     f"({num(on.get('hedged_requests'))} extra requests)", ""))
    real = r.get("real_server", {})
    if real.get("region_choice"):
        rc = real["region_choice"]
        rows.append(("real llama_cpp.server: nearest region chosen", f"{num(rc.get('nearest_chosen'))}/{num(rc.get('trials'))}",
                     "100%"))
    elif real.get("skipped"):
        rows.append(("real llama_cpp.server", f"skipped: {real['skipped']}", ""))
    return table(rows)


def render_wake(r: dict[str, Any]) -> list[str]:
    rows: list[Row] = []
    for name, c in r.get("configs", {}).items():
        label = "**configured (the default)**" if name == "configured" else f"`{name}`"
        rows.append((label, num(c.get("recall"), 3), num(c.get("false_accepts_per_hour"), 1),
                     f"{num(c.get('confusable_false_accepts'))} ({num(c.get('confusable_false_accepts_excluding_homophones'))})",
                     num(c.get("cpu_s_per_audio_s_speech"), 4), num(c.get("wake_check_wall_s_median"), 2)))
    s = r.get("set", {})
    lines = [f"Keyword `{r.get('keyword', '?')}`: {num(s.get('wake_clips'))} wake clips, "
             f"{num(s.get('confusable_clips'))} confusable clips, {num(s.get('ordinary_minutes'), 1)} minutes of "
             "ordinary speech. Targets: recall ≥ 0.95, ≤ 1 false accept per hour, no confusable but the homophone.", ""]
    lines += table(rows, header=("configuration", "recall", "false accepts / h",
                                 "confusables (without the homophone)", "CPU s / audio s (speech)",
                                 "wait at a wake, median (s)"))
    draws = r.get("noise_draws")
    if draws:
        lines += ["", "Noise draws (the configured detector):", ""]
        lines += table([(name, f"{d.get('accepted')}/{d.get('draws')}", "") for name, d in draws.items()],
                       header=("phrase [voice noise@SNR]", "accepted", ""))
    return lines


def _fraction(text: str) -> tuple[int, int]:
    got, _, of = str(text).partition("/")
    return int(got or 0), int(of or 0)


def render_duplex(r: dict[str, Any]) -> list[str]:
    rows = r.get("rows", [])
    on = [x for x in rows if x.get("aec")]
    levels = sorted({x["echo_db"] for x in rows})

    def total(items: list[dict[str, Any]], key: str) -> tuple[int, int]:
        pairs = [_fraction(x[key]) for x in items]
        return sum(a for a, _ in pairs), sum(b for _, b in pairs)

    def pct(got: int, of: int) -> str:
        return f"{got}/{of} ({100 * got / of:.0f}%)" if of else "–"

    cut = sum(x["self_cut_offs"] for x in on)
    replies = sum(x["replies"] for x in on)
    worst = {x["room"]: 0 for x in on}
    for x in on:
        worst[x["room"]] += x["self_cut_offs"]
    at6 = [x for x in on if x["echo_db"] == 6.0]
    erle = [x["erle_db"] for x in on if x.get("erle_db") is not None]
    wer6 = [x["wer_vs_clean_clip"] for x in at6 if x.get("wer_vs_clean_clip") is not None]
    cpu = [x["aec_cpu_pct_of_playback"] for x in on if x.get("aec_cpu_pct_of_playback") is not None]
    stop6 = [x["stop_after_first_word_ms_median"] for x in at6 if x.get("stop_after_first_word_ms_median") is not None]
    stop6_max = [x["stop_after_first_word_ms_max"] for x in at6 if x.get("stop_after_first_word_ms_max") is not None]
    figures: list[Row] = [
        ("self cut-offs with AEC, every room and level",
         f"{cut} of {replies} ({', '.join(f'{k} {v}' for k, v in worst.items())})", "0"),
        ("interruptions heard at +6 dB", pct(*total(at6, "interruptions_heard")), "≥ 95%"),
        ("stop after the user's first word at +6 dB, median of the rooms' medians",
         num(sorted(stop6)[len(stop6) // 2] if stop6 else None, 0, "ms"), "≤ 250 ms"),
        ("stop after the user's first word at +6 dB, slowest", num(max(stop6_max) if stop6_max else None, 0, "ms"),
         "≤ 400 ms"),
        ("wake word over a reply at +6 dB, detected", pct(*total(at6, "wake_over_reply")), "≥ 90%"),
        ("ERLE on reference-only stretches", f"{min(erle):.0f}-{max(erle):.0f} dB" if erle else "–", "≥ 25 dB"),
        ("WER over a reply against the same clip without echo at +6 dB, worst room",
         num(max(wer6) if wer6 else None, 3), "≤ 0.05"),
        ("AEC CPU per second of playback, worst", num(max(cpu) if cpu else None, 1, "%"), "≤ 5%"),
    ]
    lines = [f"{num(r.get('replies'))} replies per room and level; drift {num(r.get('drift_ppm'))} ppm.", ""]
    lines += table(figures)
    per_level: list[Row] = []
    for level in levels:
        for aec in (True, False):
            items = [x for x in rows if x["echo_db"] == level and bool(x.get("aec")) == aec]
            if not items:
                continue
            per_level.append((f"{level:+g}", "on" if aec else "off",
                              f"{sum(x['self_cut_offs'] for x in items)}/{sum(x['replies'] for x in items)}",
                              pct(*total(items, "interruptions_heard")), pct(*total(items, "wake_over_reply")),
                              "{}/{}".format(*total(items, "wake_phrase_stopped_reply"))))
    lines += ["", "Per echo level, the three rooms together:", ""]
    lines += table(per_level, header=("echo dB", "AEC", "self cut-offs", "interruptions heard", "wake detected",
                                      "wake phrase stopped the reply"))
    return lines


@dataclass(frozen=True)
class Bench:
    args: tuple[str, ...]
    """What runs after ``python``."""
    render: Callable[[dict[str, Any]], list[str]]

    @property
    def command(self) -> str:
        return "python " + " ".join(self.args)


BENCHES: dict[str, Bench] = {
    "ringbuf": Bench(("-m", "edge_agent", "bench", "ringbuf", "--json", "--runs", "5"), render_ringbuf),
    "mqtt": Bench(("-m", "edge_agent", "bench", "mqtt", "--json"), render_mqtt),
    "cloud": Bench(("-m", "edge_agent", "bench", "cloud", "--json"), render_cloud),
    "latency": Bench(("-m", "edge_agent", "bench", "latency", "--json"), render_latency),
    "listen": Bench(("-m", "edge_agent", "bench", "listen", "--json", "--no-wake"), render_listen),
    "duplex": Bench(("-m", "edge_agent", "bench", "duplex", "--json", "--replies", "7"), render_duplex),
    "wake": Bench(("-m", "edge_agent.bench.wake_eval", "--json", "--compare"), render_wake),
}
"""In the order they run: the light ones first. ``listen`` leaves the wake word to ``wake``, which
measures the configured detector among the others."""


# --- the README's summary: one figure per row, taken from the document's tables ------------------


@dataclass(frozen=True)
class Summary:
    bench: str
    """Whose table in docs/benchmarks.md the figure comes from."""
    label: str
    row: str
    """A regular expression matched against the first cell of that table's rows (the first match wins)."""
    target: str
    column: int = 1


SUMMARY = (
    Summary("ringbuf", "C ring buffer vs a Python ring, 20 ms frames", r"^C ring / Python ring", "≥ 10"),
    Summary("listen", "idle CPU of the listener thread", r"^idle CPU, the real listener thread", "≤ 2%"),
    Summary("listen", "int8 VAD agreement with fp32", r"^VAD int8 agreement", "≥ 99%"),
    Summary("listen", "mid-sentence pauses cut (tuning set, 72 + 72)", r"^end of turn, default.*: pauses cut", "≤ 10%"),
    Summary("listen", "complete sentences ended ≤ 700 ms (tuning set, 72 + 72)",
            r"^end of turn, default.*: complete sentences", "≥ 90%"),
    Summary("listen", "mid-sentence pauses cut (clean held-out split heldout6)",
            r"^end of turn, sixth held-out split.*: pauses cut", "≤ 5%"),
    Summary("listen", "complete sentences ended before the last word (heldout6)",
            r"^end of turn, sixth held-out split.*: complete sentences ended before", "0"),
    Summary("listen", "complete sentences ended ≤ 700 ms (heldout6)",
            r"^end of turn, sixth held-out split.*: complete sentences ended ≤ 700", "≥ 95%"),
    Summary("duplex", "self cut-offs by the agent's own echo (AEC on, 3 held-out rooms, -6 to +10 dB)",
            r"^self cut-offs with AEC", "0"),
    Summary("duplex", "wake word over a reply at +6 dB, detected", r"^wake word over a reply", "≥ 90%"),
    Summary("wake", "wake recall", r"the default", "≥ 0.95"),
    Summary("wake", "false accepts per hour", r"the default", "≤ 1", column=2),
    Summary("wake", "near phrases accepted (without the homophone)", r"the default",
            "0 (the homophone apart)", column=3),
    Summary("latency", "voice to voice p50", r"^voice to voice p50", "≤ 800 ms"),
    Summary("latency", "voice to voice p95", r"^voice to voice p95", "≤ 1200 ms"),
    Summary("latency", "cold start", r"^cold start", "≤ 5 s"),
    Summary("latency", "peak RSS", r"^peak RSS", "≤ 800 MB"),
    Summary("mqtt", "QoS 1 events lost in a 60 s broker outage", r"^QoS 1 events lost", "0"),
    Summary("mqtt", "availability / state right after a reconnect", r"^availability / state", "≤ 1 s"),
    Summary("mqtt", "crashes / unhandled errors in 10,000 malformed commands", r"^malformed commands",
            "0 / 0"),
    Summary("cloud", "nearest region chosen", r"^nearest region chosen", "100%"),
    Summary("cloud", "failover: worst first token, 800 ms budget", r"^failover", "≤ 1000 ms"),
)
"""The README's benchmark table, row by row."""


def _marked(text: str, name: str) -> re.Match[str]:
    """Where the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` is (group 1)."""
    m = re.search(rf"<!-- bench:{re.escape(name)} -->\n(.*?)\n<!-- /bench:{re.escape(name)} -->", text, re.DOTALL)
    if m is None:
        raise KeyError(f"no <!-- bench:{name} --> ... <!-- /bench:{name} --> markers")
    return m


def block(text: str, name: str) -> str:
    return _marked(text, name).group(1)


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with what lies between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` replaced."""
    m = _marked(text, name)
    return text[:m.start(1)] + body + text[m.end(1):]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def summary_table(doc: str) -> list[str]:
    """The README's table: each :data:`SUMMARY` row's figure as the document's tables have it now."""
    rows: list[Row] = []
    for s in SUMMARY:
        figure = "–"
        for line in block(doc, s.bench).splitlines():
            if line.startswith("| ") and not line.startswith("|---"):
                row = cells(line)
                if re.search(s.row, row[0]) and len(row) > s.column:
                    figure = row[s.column].replace("**", "") or "–"
                    break
        command = "wake_eval" if s.bench == "wake" else f"bench {s.bench}"
        rows.append((f"`{command}`", s.label, figure, s.target))
    return table(rows, header=("benchmark", "figure", "latest", "target"))


# --- the document -------------------------------------------------------------------------------


def section(name: str, result: dict[str, Any], stamp: Stamp) -> str:
    bench = BENCHES[name]
    return "\n".join([stamp.line(bench.command), "", *bench.render(result)])


def parse_output(stdout: str) -> dict[str, Any]:
    """The benchmark's JSON object: the whole of stdout, or from its first line that opens an object."""
    try:
        result = json.loads(stdout)
    except json.JSONDecodeError:
        start = re.search(r"^\{", stdout, re.MULTILINE)
        if start is None:
            raise ValueError("no JSON object in the output") from None
        result = json.loads(stdout[start.start():])
    if not isinstance(result, dict):
        raise ValueError("the output is not a JSON object")
    return result


def run_bench(name: str, timeout_s: float | None) -> dict[str, Any]:
    """Run one benchmark in a fresh process from the checkout (its progress goes to our stderr)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, *BENCHES[name].args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          text=True, timeout=timeout_s, check=False)
    try:
        return parse_output(proc.stdout)  # bench cloud exits 1 on a missed target and still reports
    except ValueError as exc:
        raise RuntimeError(f"{BENCHES[name].command} exited {proc.returncode}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/bench_report.py", description=__doc__.split("\n")[0])
    p.add_argument("benches", nargs="*", metavar="NAME",
                   help=f"benchmarks to run, of {', '.join(BENCHES)} (default: all)")
    p.add_argument("--doc", type=Path, default=DOC, help="the document to rewrite (default docs/benchmarks.md)")
    p.add_argument("--readme", type=Path, default=README,
                   help="whose <!-- bench:summary --> table to rebuild from the document (default README.md)")
    p.add_argument("--from-json", type=Path, metavar="DIR", help="render DIR/NAME.json instead of running")
    p.add_argument("--save-json", type=Path, metavar="DIR", help="also write each result to DIR/NAME.json")
    p.add_argument("--summary-only", action="store_true",
                   help="run nothing: only rebuild the README's table from the document as it is")
    p.add_argument("--timeout", type=float, default=None, help="seconds one benchmark may take (default: no limit)")
    args = p.parse_args(argv)
    unknown = [n for n in args.benches if n not in BENCHES]
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    names = [] if args.summary_only else args.benches or list(BENCHES)
    text = args.doc.read_text(encoding="utf-8")
    failed = []
    for name in names:
        print(f"bench_report: {BENCHES[name].command}", file=sys.stderr, flush=True)
        stamp = current_stamp()
        try:
            if args.from_json:
                result = json.loads((args.from_json / f"{name}.json").read_text(encoding="utf-8"))
            else:
                result = run_bench(name, args.timeout)
            text = replace_block(text, name, section(name, result, stamp))
        except (OSError, RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
            print(f"bench_report: {name}: {exc}; its table is left as it was", file=sys.stderr)
            failed.append(name)
            continue
        if args.save_json:
            args.save_json.mkdir(parents=True, exist_ok=True)
            (args.save_json / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        args.doc.write_text(text, encoding="utf-8")  # after each one: a later failure keeps what was measured
    try:
        readme = args.readme.read_text(encoding="utf-8")
        args.readme.write_text(replace_block(readme, "summary", "\n".join(summary_table(text))), encoding="utf-8")
    except (OSError, KeyError) as exc:
        print(f"bench_report: the summary in {args.readme} is left as it was: {exc}", file=sys.stderr)
        failed.append("summary")
    if failed:
        print(f"bench_report: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
