"""``edge-agent run`` end to end with the real default models: a generated WAV (the wake word,
a pause, a question) goes through wake word, VAD, end of turn, STT, the local LLM and Piper, and
the reply lands in a WAV file; the events come out as JSON lines."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alsa_helpers import write_alsa_config

from edge_agent.audio.wav import read_wav, write_wav

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

QUESTION = "Hello, how are you?"
"""Small talk: the answer router hands it to the local LLM (a question of fact would be answered from
the knowledge file or declined, without the LLM)."""


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory, model_path) -> Path:  # type: ignore[no-untyped-def]
    model_path("piper-joe-medium", "en_US-joe-medium.onnx")  # the generated voice needs it
    from edge_agent.speechgen import demo_conversation

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
    for kind in ("wake", "turn_end", "transcript", "answer_routed", "llm_first_token", "reply_text",
                 "audio_out_start", "turn_done"):
        assert kind in types, f"no {kind} event in {types}\n{proc.stderr}"
    assert next(e for e in events if e["type"] == "answer_routed")["source"] == "chitchat"
    order = [types.index(k) for k in ("wake", "turn_end", "transcript", "audio_out_start", "turn_done")]
    assert order == sorted(order)
    assert all("wall_t" in e for e in events)
    assert next(e for e in events if e["type"] == "wake")["audio_t"] > 0
    transcript = next(e for e in events if e["type"] == "transcript")["text"].lower()
    assert "how are you" in transcript, transcript
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


def test_the_demo_is_answered_from_the_knowledge_file_and_makes_a_real_tool_call(tmp_path: Path) -> None:
    from edge_agent.demo import demo_input
    from edge_agent.demo_light import read_panel

    out = tmp_path / "reply.wav"
    panel = tmp_path / "lights.txt"
    env = {"EDGE_AGENT_ANSWERS__DEMO_TOOL": "true", "EDGE_AGENT_DEMO_LIGHTS": str(panel)}  # as run_demo sets it
    # paced, as the demo plays it: unpaced, the second wake word would come before the first reply is said
    proc = run_agent(["--input", str(demo_input()), "--output", str(out), "--events", "-"], env=env, timeout=200)
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    routed = [e for e in events if e["type"] == "answer_routed"]
    assert routed[0]["source"] == "knowledge" and routed[0]["passage"].endswith("#Opening hours"), routed
    replies = [e["text"] for e in events if e["type"] == "reply_text"]
    assert "10 am" in replies[0] and "5 pm" in replies[0], replies  # the file's own words
    assert "llm_first_token" not in [e["type"] for e in events]
    done = next(e for e in events if e["type"] == "turn_done")
    assert {"endpoint", "stt", "tts_first_chunk"} <= set(done["stages"]), done
    # the second turn: the example tool really runs (the demo's light panel), and only then "done"
    assert routed[1]["source"] == "intent" and routed[1]["intent"] == "HassTurnOn", routed
    tool = next(e for e in events if e["type"] == "tool")
    assert tool["name"] == "set_light" and tool["ok"] and tool["arguments"] == {"state": "ON", "room": "cafe"}
    assert replies[1] == "Done: the cafe light is on.", replies
    assert read_panel(panel)["cafe"] == "ON"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("parts", [("I would like to order", "a large pizza with mushrooms."),
                                   ("Please remind me to", "water the plants on Sunday.")])
def test_a_pause_mid_sentence_does_not_end_the_turn(parts: tuple[str, str], tmp_path: Path, model_path) -> None:  # type: ignore[no-untyped-def]
    # paced in real time, as a microphone would be: the speculative transcript and its LM hint
    # reach the turn policy as late as they would live
    model_path("piper-joe-medium", "en_US-joe-medium.onnx")
    from edge_agent.speechgen import demo_conversation

    utt = demo_conversation(keyword="okay_nabu", question=parts, pause_s=0.7)
    wav = tmp_path / "pause.wav"
    write_wav(wav, utt.samples, 16000)
    proc = run_agent(["--input", str(wav), "--output", str(tmp_path / "reply.wav"), "--events", "-"])
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    ends = [e for e in events if e["type"] == "turn_end"]
    assert len(ends) == 1, events
    resume_t = utt.segments[-1].start_t
    assert ends[0]["audio_t"] > resume_t, f"the turn ended in the pause: {ends[0]}"
    transcript = next(e for e in events if e["type"] == "transcript")["text"].lower()
    last_word = parts[1].rstrip(".").split()[-1].lower()
    assert last_word[:5] in transcript, transcript
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
    # a system prompt longer than the context window: the model loads, every generation fails (the
    # persona is in the small-talk prompt the answer router gives the model)
    env = {"EDGE_AGENT_LLM__LOCAL__N_CTX": "256",
           "EDGE_AGENT_LLM__SYSTEM_PROMPT": "You are a helpful voice assistant. " * 60,
           "EDGE_AGENT_LLM__PERSONA": "Edge, a helpful voice assistant, " * 40,
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
    from edge_agent.speechgen import Voice, silence, speak

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
    # "Stop." only interrupted: the question after it is what gets answered
    assert any(e["type"] == "answer_routed" and e.get("intent") == "HassGetCurrentTime" for e in events), events


def _feed_fifo(fifo: Path, audio: np.ndarray, stop: Any) -> None:
    """The 'microphone': ``audio`` then silence into a FIFO in real time. PortAudio opens and
    closes the device while probing, so every new reader starts from the beginning."""
    import time

    silence = np.zeros(320, "<i2")
    while not stop.is_set():
        try:
            with open(fifo, "wb", buffering=0) as fh:
                t0, n = time.monotonic(), 0
                while not stop.is_set():
                    block = audio[n:n + 320] if n < len(audio) else silence
                    fh.write(block.astype("<i2").tobytes())
                    n += 320
                    delay = t0 + n / 16000 - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
        except BrokenPipeError:
            continue


def test_microphone_and_speaker_through_portaudio(tmp_path: Path, model_path) -> None:  # type: ignore[no-untyped-def]
    """`edge-agent run` with no WAV at all: PortAudio capture and playback through ALSA's file
    plugin (the microphone reads a FIFO fed in real time; the speaker writes a paced file)."""
    import signal
    import threading
    import time

    models = model_path("piper-joe-medium", "en_US-joe-medium.onnx").parent.parent
    from edge_agent.speechgen import demo_conversation

    audio = np.concatenate([np.zeros(16000, np.int16), demo_conversation().samples])
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    write_alsa_config(tmp_path, fifo)
    stop = threading.Event()
    feeder = threading.Thread(target=_feed_fifo, args=(fifo, audio, stop), daemon=True)
    feeder.start()
    env = {**os.environ, "HOME": str(tmp_path), "JACK_NO_START_SERVER": "1",
           "EDGE_AGENT_PATHS__MODELS_DIR": str(models), "EDGE_AGENT_AUDIO__INPUT_DEVICE": "edge_mic",
           "EDGE_AGENT_AUDIO__OUTPUT_DEVICE": "edge_speaker", "EDGE_AGENT_AUDIO__OUTPUT_SAMPLE_RATE": "16000",
           "EDGE_AGENT_LLM__LOCAL__MAX_SENTENCES": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--events", "-"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        for line in proc.stdout:
            lines.append(line)
            if '"turn_done"' in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=20)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(OSError):  # unblock a feeder waiting for a reader
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        feeder.join(5)
    stderr = proc.stderr.read() if proc.stderr else ""
    events = events_of("".join(lines))
    types = [e["type"] for e in events]
    assert "wake" in types and "audio_out_start" in types and "turn_done" in types, f"{types}\n{stderr[-3000:]}"
    assert status == 0, stderr[-3000:]
    played = np.fromfile(tmp_path / "played.raw", dtype="<i2")
    assert np.abs(played.astype(np.int32)).max() > 1000, "the reply was played through PortAudio"
    assert "Traceback" not in stderr


def test_say_writes_the_spoken_text_to_a_wav(tmp_path: Path) -> None:
    out = tmp_path / "say.wav"
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "say", "It costs $5 at 10:30.", "--output", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    audio, rate = read_wav(out, None)
    assert rate == 22050 and len(audio) > rate and np.abs(audio.astype(np.int32)).max() > 1000


def test_chat_answers_each_line_until_end_of_input() -> None:
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "chat"], input="Hello!\n\nWhat can you do?\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    replies = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(replies) == 2, proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("given", [None, "2"])
def test_cli_keeps_openblas_to_one_thread_unless_told(given: str | None) -> None:
    """Set before numpy loads (OpenBLAS reads it once, and starts N-1 threads); a user's own setting wins."""
    code = ("import os, sys\nfrom edge_agent.cli import main\nassert 'numpy' not in sys.modules\n"
            "try:\n    main(['config', '--help'])\nexcept SystemExit:\n    pass\n"
            "import numpy  # noqa: F401  (OpenBLAS starts its threads now)\n"
            "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    threads = 1 if given is None else min(int(given), os.cpu_count() or 1)  # OpenBLAS caps it at the cores
    assert out.stdout.strip().splitlines()[-1] == f"{given or 1} {threads}"
