"""``edge-agent listen``: JSON lines per event, format conversion, clear errors."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from edge_agent import speechgen
from edge_agent.audio.wav import resample, write_wav
from edge_agent.cli import main


@pytest.fixture(scope="module")
def sentence() -> speechgen.Utterance:
    return next(u for u in speechgen.complete_sentences(n=6) if u.voice.startswith("piper"))


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.real_model
def test_events_as_json_lines_for_several_files(tmp_path: Path, sentence, capsys) -> None:
    a = tmp_path / "a.wav"
    write_wav(a, sentence.samples, 16000)
    # the same sentence as 44.1 kHz stereo: converted on reading
    b = tmp_path / "b.wav"
    stereo = resample(sentence.samples.astype(np.float32), 16000, 44100).astype(np.int16)
    with wave.open(str(b), "wb") as wf:
        wf.setnchannels(2)
        wf.setsampwidth(2)
        wf.setframerate(44100)
        wf.writeframes(np.repeat(stereo, 2).tobytes())
    assert main(["listen", "--no-wake", str(a), str(b)]) == 0
    events = lines(capsys.readouterr().out)
    for name in (str(a), str(b)):
        mine = [e for e in events if e["file"] == name]
        assert [e["type"] for e in mine][:1] == ["speech_start"]
        ends = [e for e in mine if e["type"] == "turn_end"]
        assert len(ends) == 1 and "probability" in ends[0] and "reason" in ends[0]
        assert abs(mine[0]["audio_t"] - sentence.segments[0].start_t) < 0.15
        assert sentence.last_word_t < ends[0]["audio_t"] < sentence.duration + 0.01


@pytest.mark.real_model
def test_wake_word_file_and_events_file(tmp_path: Path, capsys) -> None:
    utt = speechgen.wake_set("okay_nabu", 1, with_command=False, voices=[speechgen.Voice("piper")])[0]
    wav = tmp_path / "wake.wav"
    write_wav(wav, np.concatenate([utt.samples, np.zeros(16000, np.int16)]), 16000)
    out = tmp_path / "events.jsonl"
    assert main(["listen", str(wav), "--events", str(out)]) == 0
    events = lines(out.read_text())
    assert events and events[0]["type"] == "wake" and events[0]["keyword"] == "okay_nabu"
    assert capsys.readouterr().out == ""


@pytest.mark.real_model
def test_bad_files_are_reported_and_others_done(tmp_path: Path, sentence, capsys) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    truncated = tmp_path / "trunc.wav"
    write_wav(truncated, sentence.samples, 16000)
    truncated.write_bytes(truncated.read_bytes()[:44])
    good = tmp_path / "good.wav"
    write_wav(good, sentence.samples, 16000)
    assert main(["listen", "--no-wake", str(empty), str(truncated), str(tmp_path / "nope.wav"), str(good)]) == 65
    cap = capsys.readouterr()
    assert "empty.wav" in cap.err and "trunc.wav" in cap.err and "nope.wav: no such file" in cap.err
    assert "Traceback" not in cap.err
    assert {e["file"] for e in lines(cap.out)} == {str(good)}


def test_missing_model_names_the_pull_command(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EDGE_AGENT_PATHS__MODELS_DIR", str(tmp_path / "no-models"))
    wav = tmp_path / "x.wav"
    write_wav(wav, np.zeros(16000, np.int16), 16000)
    assert main(["listen", "--no-wake", str(wav)]) == 69
    err = capsys.readouterr().err
    assert "edge-agent models pull silero-vad-int8" in err and "Traceback" not in err
