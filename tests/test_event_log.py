"""The one ``--events`` writer behind ``run``, ``ask`` and ``listen``."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from edge_agent.errors import UsageError
from edge_agent.event_log import EventWriter
from edge_agent.events import SpeechEnd, TurnEnd


def test_lines_are_the_events_own_dicts_with_the_prefix_first(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventWriter(str(path), prefix=lambda: {"file": "a.wav"}) as write:
        write(SpeechEnd(audio_t=1.23456))
        write(TurnEnd(audio_t=2.0, probability=0.9, reason="model"))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert list(lines[0])[:2] == ["file", "type"]
    assert lines[0] == {"file": "a.wav", "type": "speech_end", "audio_t": 1.2346}
    assert lines[1]["reason"] == "model" and lines[1]["probability"] == 0.9


def test_threads_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventWriter(str(path)) as write:
        def burst() -> None:
            for i in range(500):
                write(SpeechEnd(audio_t=float(i)))

        threads = [threading.Thread(target=burst) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2000 and all(json.loads(line)["type"] == "speech_end" for line in lines)


def test_an_unwritable_target_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot write events to"):
        EventWriter(str(tmp_path / "no" / "such" / "dir.jsonl"))


def test_a_closed_reader_does_not_raise(tmp_path: Path) -> None:
    write = EventWriter(str(tmp_path / "e.jsonl"))
    write.close()
    write(SpeechEnd(audio_t=0.5))  # the file is closed: dropped, not raised
