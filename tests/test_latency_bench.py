"""``edge-agent bench latency``: a smoke run (two turns, no cold-start runs). The targets are the
benchmark's business, never a test's: only the shape of the report is checked here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edge_agent.bench.latency import by_route, percentile, word_error_rate


def test_word_error_rate_counts_edits_against_the_reference() -> None:
    assert word_error_rate("Turn on the kitchen lights.", "turn on the kitchen lights") == (0, 5)
    assert word_error_rate("Set a timer for ten minutes", "set timer for 10 minutes") == (2, 6)


def test_percentile_of_nothing_is_nan() -> None:
    assert percentile([], 50) != percentile([], 50)
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0


def test_latency_by_route_groups_answered_turns() -> None:
    turns = [{"voice_to_voice_ms": 300.0, "route": "intent", "stages": {"endpoint": 200.0}},
             {"voice_to_voice_ms": 500.0, "route": "intent", "stages": {"endpoint": 300.0}},
             {"voice_to_voice_ms": 700.0, "route": "chitchat", "stages": {}},
             {"voice_to_voice_ms": None, "route": "intent", "stages": {}}]
    groups = by_route(turns)
    assert groups["intent"]["n"] == 2 and groups["intent"]["p50"] == 400.0
    assert groups["intent"]["after_turn_end_p50"] == 150.0
    assert groups["chitchat"]["n"] == 1 and groups["chitchat"]["p95"] == 700.0


@pytest.mark.real_model
@pytest.mark.slow
def test_bench_latency_smoke(model_path) -> None:  # type: ignore[no-untyped-def]
    model_path("piper-joe-medium", "en_US-joe-medium.onnx")
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "bench", "latency", "--json", "-n", "2",
                           "--cold-starts", "0", "--no-llm-probe"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["utterances"] == 2 and len(report["turns"]) == 2
    assert report["turns_answered"] >= 1, proc.stderr
    assert report["voice_to_voice_ms"]["p50"] > 0
    # the two commands are intents: answered without the LLM, through the answer router
    assert {"endpoint", "tts_first_chunk"} <= set(report["stages_ms"])
    assert report["route"] == "answers" and all("route" in t for t in report["turns"])
    assert "p99" in report["voice_to_voice_ms"] and report["voice_to_voice_by_route_ms"]
    assert report["targets"]["voice_to_voice_p50_ms"] == 800
    assert report["direct_wer"] is not None and report["pipeline_wer"] is not None
