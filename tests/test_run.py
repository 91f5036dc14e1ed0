"""``edge-agent run`` end to end with the real default models: a generated WAV (the wake word,
a pause, a question) goes through wake word, VAD, end of turn, STT, the local LLM and Piper, and
the reply lands in a WAV file; the events come out as JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.audio.wav import read_wav, write_wav

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

QUESTION = "What can you do for me?"


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory, model_path) -> Path:  # type: ignore[no-untyped-def]
    model_path("piper-joe-medium", "en_US-joe-medium.onnx")  # the generated voice needs it
    from edge_agent.testaudio import demo_conversation

    utt = demo_conversation(keyword="okay_nabu", question=QUESTION)
    path = tmp_path_factory.mktemp("run") / "wake-question.wav"
    write_wav(path, utt.samples, 16000)
    return path


def run_agent(args: list[str], env: dict[str, str] | None = None, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_agent", "run", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def events_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_a_voice_turn_end_to_end(question_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    proc = run_agent(["--input", str(question_wav), "--output", str(out), "--fast", "--events", "-"])
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    types = [e["type"] for e in events]
    for kind in ("wake", "turn_end", "transcript", "llm_first_token", "reply_text", "audio_out_start", "turn_done"):
        assert kind in types, f"no {kind} event in {types}\n{proc.stderr}"
    order = [types.index(k) for k in ("wake", "turn_end", "transcript", "audio_out_start", "turn_done")]
    assert order == sorted(order)
    assert all("wall_t" in e for e in events)
    assert next(e for e in events if e["type"] == "wake")["audio_t"] > 0
    transcript = next(e for e in events if e["type"] == "transcript")["text"].lower()
    assert "what" in transcript and "do" in transcript, transcript
    reply = next(e for e in events if e["type"] == "reply_text")["text"]
    assert reply.strip() and not any(c in reply for c in "*#`")
    done = next(e for e in events if e["type"] == "turn_done")
    assert done["voice_to_voice_ms"] > 0
    for stage in ("endpoint", "stt", "llm_first_token", "tts_first_chunk"):
        assert stage in done["stages"], done
    audio, rate = read_wav(out, None)
    assert rate == 22050
    assert np.abs(audio.astype(np.int32)).max() > 1000, "the reply WAV holds a voice"
    assert "Traceback" not in proc.stderr


def test_silence_only_gives_no_reply_and_exits_cleanly(tmp_path: Path) -> None:
    silent = tmp_path / "silence.wav"
    write_wav(silent, np.zeros(16000 * 3, np.int16), 16000)
    out = tmp_path / "reply.wav"
    proc = run_agent(["--input", str(silent), "--output", str(out), "--fast", "--events", "-"])
    assert proc.returncode == 0, proc.stderr
    types = [e["type"] for e in events_of(proc.stdout)]
    assert "reply_text" not in types and "wake" not in types
    assert "Traceback" not in proc.stderr


def test_an_llm_failure_mid_turn_is_an_apology_and_an_error_event(question_wav: Path, tmp_path: Path) -> None:
    # a system prompt longer than the context window: the model loads, every generation fails
    env = {"EDGE_AGENT_LLM__LOCAL__N_CTX": "256",
           "EDGE_AGENT_LLM__SYSTEM_PROMPT": "You are a helpful voice assistant. " * 60,
           "EDGE_AGENT_CONVERSATION__APOLOGY": "Sorry, I could not answer that."}
    out = tmp_path / "reply.wav"
    proc = run_agent(["--input", str(question_wav), "--output", str(out), "--fast", "--events", "-"], env=env)
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[0]["stage"] == "llm", events
    assert [e["text"] for e in events if e["type"] == "reply_text"] == ["Sorry, I could not answer that."]
    audio, _ = read_wav(out, None)
    assert np.abs(audio.astype(np.int32)).max() > 1000, "the apology is spoken"
    assert "Traceback" not in proc.stderr


def test_a_corrupt_gguf_is_a_clear_error(question_wav: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    proc = run_agent(["--input", str(question_wav), "--output", str(tmp_path / "o.wav"), "--fast"],
                     env={"EDGE_AGENT_LLM__LOCAL__MODEL": str(bad)})
    assert proc.returncode == 69, proc.stderr
    assert "broken.gguf" in proc.stderr and "edge-agent models pull" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_input_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_agent(["--input", str(tmp_path / "nope.wav"), "--output", str(tmp_path / "o.wav")], timeout=60)
    assert proc.returncode == 65, proc.stderr
    assert "nope.wav" in proc.stderr and "Traceback" not in proc.stderr


def test_sigterm_stops_a_staying_agent_with_status_0(question_wav: Path, tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--input", str(question_wav), "--output",
                             str(tmp_path / "o.wav"), "--stay", "--events", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        for line in proc.stdout:  # wait until the agent is speaking its reply
            if '"audio_out_start"' in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        status = proc.wait(timeout=20)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert status == 0, stderr
    assert stopped_in < 10
    assert "Traceback" not in stderr


def test_barge_in_through_the_real_pipeline(tmp_path: Path, model_path) -> None:  # type: ignore[no-untyped-def]
    """The user talks over the agent's reply: playback stops, the reply is kept truncated, and the
    new question is answered (paced in real time: the listener hears the user while it speaks)."""
    model_path("piper-joe-medium", "en_US-joe-medium.onnx")
    from edge_agent.testaudio import Voice, silence, speak

    voice = Voice("piper")
    audio = np.concatenate([silence(0.5), speak("Okay Nabu.", voice), silence(0.6),
                            speak("Tell me a long story about a brave dragon and a little knight.", voice),
                            silence(4.0), speak("Stop. What time is it?", voice), silence(2.5)])
    wav = tmp_path / "barge.wav"
    write_wav(wav, audio, 16000)
    env = {"EDGE_AGENT_LLM__LOCAL__MAX_SENTENCES": "4", "EDGE_AGENT_LLM__LOCAL__MAX_TOKENS": "120"}
    proc = run_agent(["--input", str(wav), "--output", str(tmp_path / "o.wav"), "--events", "-"], env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    types = [e["type"] for e in events]
    assert "barge_in" in types, f"{types}\n{proc.stderr[-3000:]}"
    barge = next(e for e in events if e["type"] == "barge_in")
    assert barge["stop_ms"] < 100
    first_reply = next(e for e in events if e["type"] == "reply_text")
    assert first_reply["truncated"] is True
    assert any(e["type"] == "audio_out_end" and e.get("interrupted") for e in events)
    transcripts = [e["text"].lower() for e in events if e["type"] == "transcript"]
    assert any("time" in t for t in transcripts[1:]), transcripts
