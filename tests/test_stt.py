"""Speech-to-text: Whisper (default) and Vosk behind one interface, the transcribe command, WER.

Fast tests cover the buffer, the repetition trim and the errors; ``real_model`` tests run the real
faster-whisper / vosk libraries on audio generated here (Piper voice, espeak-ng Korean)."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_agent.audio.wav import read_wav, write_wav
from edge_agent.errors import ModelError
from edge_agent.stt.base import SpeechToText, UtteranceBuffer
from edge_agent.stt.whisper import trim_repetition
from edge_agent.tts.text import speakable


@pytest.fixture(autouse=True)
def _restore_logging():  # type: ignore[no-untyped-def]
    """``cli.main`` points the root logger at this test's captured stderr; put it back after."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- word error rate ----------------------------------------------------------------------------


def normalise_words(text: str) -> list[str]:
    """Lower case, numbers as words ("10" == "ten"), no punctuation: WER counts words, not style."""
    text = speakable(text).lower().replace("-", " ")
    return re.sub(r"[^a-z' ]", " ", text).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[:], i
        for j, h in enumerate(hyp, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r != h))
    return row[-1]


def wer(refs: list[str], hyps: list[str]) -> float:
    errors = sum(edit_distance(normalise_words(r), normalise_words(h)) for r, h in zip(refs, hyps, strict=True))
    return errors / sum(len(normalise_words(r)) for r in refs)


def test_wer_helpers() -> None:
    assert normalise_words("Set a timer for 10 minutes.") == normalise_words("set a timer for ten minutes")
    assert edit_distance(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert wer(["turn on the light"], ["turn the lights"]) == 0.5


# --- fast logic tests ---------------------------------------------------------------------------


def test_utterance_buffer_is_bounded() -> None:
    buf = UtteranceBuffer(1000)
    for _ in range(5):
        buf.feed(np.ones(300, np.int16))
    assert buf.length == 1000 and buf.dropped == 500
    assert buf.audio().size == 1000


@pytest.mark.parametrize(("text", "trimmed"), [
    ("Turn off the fan in the bedroom. Turn off", "Turn off the fan in the bedroom."),
    ("What time is it in Tokyo right now? What time is", "What time is it in Tokyo right now?"),
    ("No. No.", "No. No."),
    ("Turn on the lights.", "Turn on the lights."),
    ("Call mom, then call dad", "Call mom, then call dad"),
])
def test_trim_repetition(text: str, trimmed: str) -> None:
    assert trim_repetition(text) == trimmed


def test_factory_reports_a_bad_model_directory(tmp_path: Path) -> None:
    from edge_agent.config import load_settings
    from edge_agent.stt.factory import create_stt

    with pytest.raises(ModelError, match="not a directory"):
        create_stt(load_settings(None, stt={"model": str(tmp_path / "nope")}))
    with pytest.raises(ModelError, match="no model.bin"):
        create_stt(load_settings(None, stt={"model": str(tmp_path)}))


def test_missing_model_names_the_pull_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from edge_agent.cli import main

    monkeypatch.setenv("EDGE_AGENT_PATHS__MODELS_DIR", str(tmp_path))
    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros(1600, np.int16), 16000)
    assert main(["transcribe", "--engine", "vosk", str(wav)]) == 69
    assert "edge-agent models pull vosk-small-en-us" in capsys.readouterr().err


# --- real models --------------------------------------------------------------------------------

REFERENCE_COMMANDS = 16


@pytest.fixture(scope="module")
def whisper(model_path) -> SpeechToText:  # type: ignore[no-untyped-def]
    from edge_agent.stt.whisper import WhisperStt

    return WhisperStt(model_path("whisper-tiny-en"))


@pytest.fixture(scope="module")
def spoken_commands(model_path, tmp_path_factory) -> list[tuple[Path, str]]:  # type: ignore[no-untyped-def]
    """Spoken commands as 22,050 Hz WAVs from the Piper voice (read_wav resamples them), with
    0.3 s of silence before (the listener's pre-roll) and 0.5 s after (the end-of-turn wait).
    Piper's noise is off, so the audio (and the WER) is the same at every run."""
    from edge_agent.speechgen import COMMANDS
    from edge_agent.tts.piper_tts import PiperTts

    tts = PiperTts(model_path("piper-joe-medium", "en_US-joe-medium.onnx"), noise_scale=0.0, noise_w_scale=0.0)
    out_dir = tmp_path_factory.mktemp("commands")
    items = []
    for i, text in enumerate(COMMANDS[:REFERENCE_COMMANDS]):
        path = out_dir / f"command{i:02d}.wav"
        lead, tail = np.zeros(int(0.3 * tts.sample_rate), np.int16), np.zeros(tts.sample_rate // 2, np.int16)
        write_wav(path, np.concatenate([lead, tts.synthesize_all(text), tail]), tts.sample_rate)
        items.append((path, text))
    return items


@pytest.mark.real_model
def test_whisper_wer_is_no_worse_than_faster_whisper_directly(whisper, spoken_commands) -> None:  # type: ignore[no-untyped-def]
    refs = [text for _, text in spoken_commands]
    ours = [whisper.transcribe(read_wav(path)[0]) for path, _ in spoken_commands]
    direct = []
    for path, _ in spoken_commands:  # the same engine, its own audio loading and 30 s window
        texts = whisper.backend.segment_texts(str(path), language="en", beam_size=1, vad_filter=False,
                                              without_timestamps=True, condition_on_previous_text=False)
        direct.append(" ".join(t.strip() for t in texts))
    ours_wer, direct_wer = wer(refs, ours), wer(refs, direct)
    print(f"\nWER ours {ours_wer:.3f} vs faster-whisper directly {direct_wer:.3f} on {len(refs)} commands")
    for r, o, d in zip(refs, ours, direct, strict=True):
        print(f"  {r!r}\n    ours:   {o!r}\n    direct: {d!r}")
    assert ours_wer <= direct_wer
    assert ours_wer <= 0.15


@pytest.mark.real_model
def test_whisper_stream(whisper, spoken_commands) -> None:  # type: ignore[no-untyped-def]
    audio, _ = read_wav(spoken_commands[1][0])
    stream = whisper.stream()
    for i in range(0, audio.size, 160):  # 10 ms frames, as the listener feeds them
        stream.feed(audio[i : i + 160])
    stream.feed(np.zeros(3200, np.int16))
    stream.speculate()  # silence began: a hint Whisper ignores
    stream.feed(np.zeros(3200, np.int16))  # ... and went on: the turn ends
    assert stream.partial() == ""
    text = stream.final()
    assert normalise_words(text) == normalise_words(spoken_commands[1][1])


@pytest.mark.real_model
def test_whisper_gives_nothing_for_silence(whisper) -> None:  # type: ignore[no-untyped-def]
    assert whisper.transcribe(np.zeros(32000, np.int16)) == ""
    assert whisper.transcribe(np.zeros(0, np.int16)) == ""


@pytest.mark.real_model
def test_whisper_long_audio_uses_windows(whisper, spoken_commands) -> None:  # type: ignore[no-untyped-def]
    parts = [read_wav(p)[0] for p, _ in spoken_commands[:3]]
    long_audio = np.concatenate([*parts, np.zeros(16000 * 29, np.int16), parts[0]])  # > 30 s
    words = normalise_words(whisper.transcribe(long_audio))
    assert words[:3] == normalise_words(spoken_commands[0][1])[:3]
    assert words[-2:] == normalise_words(spoken_commands[0][1])[-2:]


@pytest.mark.real_model
def test_transcribe_command(spoken_commands, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.cli import main

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    good = [str(p) for p, _ in spoken_commands[:2]]
    status = main(["transcribe", good[0], str(bad), good[1]])
    out, err = capsys.readouterr()
    assert status == 65
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == good
    assert normalise_words(lines[0].split("\t")[1]) == normalise_words(spoken_commands[0][1])
    assert f"edge-agent: {bad}" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def korean_wav(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("ko") / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "안녕하세요. 오늘 날씨가 정말 좋네요.", "-w", str(path)],
                   check=True, capture_output=True)
    return path


@pytest.mark.real_model
def test_vosk_streams_partials_and_a_korean_transcript(model_path, korean_wav) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.stt.vosk_stt import VoskStt

    stt = VoskStt(model_path("vosk-ko"))
    audio, _ = read_wav(korean_wav)
    audio = np.concatenate([np.zeros(4800, np.int16), audio, np.zeros(8000, np.int16)])
    stream = stt.stream()
    partials = []
    for i in range(0, audio.size, 1600):  # 100 ms chunks
        stream.feed(audio[i : i + 1600])
        partials.append(stream.partial())
    text = stream.final()
    hangul = re.compile(r"[\uac00-\ud7a3]")
    assert hangul.search(text), text
    seen = [p for p in partials[:-3] if p]
    assert seen and hangul.search(seen[0]), "no partial result while feeding"
    assert len(set(seen)) >= 2, "the partial did not grow while feeding"
    # the whole-utterance API gives the same kind of answer
    assert hangul.search(stt.transcribe(audio))


@pytest.mark.real_model
def test_stt_threads_release_the_gil(whisper, spoken_commands) -> None:  # type: ignore[no-untyped-def]
    """The decode runs on a worker thread while this thread keeps running (CTranslate2 drops the GIL)."""
    audio, _ = read_wav(spoken_commands[0][0])
    ticks = 0
    done = threading.Event()
    def decode() -> None:
        whisper.transcribe(audio)
        done.set()

    worker = threading.Thread(target=decode)
    worker.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    assert ticks > 5
