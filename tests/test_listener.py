"""The listener: the source-agnostic core with fake engines (fast), the ring-buffer thread, and
the real models on generated speech."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge_agent import speechgen
from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.events import Event
from edge_agent.listen.listener import HOP, IDLE_BATCH_HOPS, Listener, ListenerCore
from edge_agent.listen.policy import PolicyConfig
from edge_agent.listen.wake import Detection

LOUD, WAKE_MARK = 8000, 12345


class FakeVad:
    """P(speech) = 0.9 for a loud hop, else 0.05."""

    frame_samples = HOP

    def __init__(self) -> None:
        self.calls = 0

    def process(self, frame: np.ndarray) -> float:
        self.calls += 1
        return 0.9 if np.abs(frame.astype(np.int32)).mean() > LOUD / 2 else 0.05

    def reset(self) -> None:
        pass


class FakeWake:
    """Fires on a hop that contains the marker sample."""

    frame_samples = 320
    keywords = ("okay_nabu",)

    def process(self, frame: np.ndarray) -> Detection | None:
        return Detection("okay_nabu", 0.97) if (frame == WAKE_MARK).any() else None

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeTurn:
    def __init__(self, p: float = 0.9) -> None:
        self.p, self.seen = p, []

    def predict(self, audio: np.ndarray) -> float:
        self.seen.append(len(audio))
        return self.p


def stream(*parts: tuple[str, float]) -> np.ndarray:
    out = []
    for kind, seconds in parts:
        n = int(round(seconds * 16000 / HOP)) * HOP
        x = np.full(n, LOUD if kind == "speech" else 10, np.int16)
        if kind == "wake":
            x[:] = 10
            x[100] = WAKE_MARK
        out.append(x)
    return np.concatenate(out)


def feed(core: ListenerCore, audio: np.ndarray) -> None:
    for i in range(0, len(audio) - HOP + 1, HOP):
        core.process_hop(audio[i:i + HOP])


def make(wake: bool = True, turn_p: float = 0.9, **kw) -> tuple[ListenerCore, list[Event], FakeVad, FakeTurn]:
    events: list[Event] = []
    vad, turn = FakeVad(), FakeTurn(turn_p)
    core = ListenerCore(vad, turn, FakeWake() if wake else None, events.append,  # type: ignore[arg-type]
                        PolicyConfig(first_check_ms=192, recheck_ms=192, max_silence_ms=1000,
                                                    confirm_votes=1, turn_threshold=0.5), **kw)
    return core, events, vad, turn


def test_wake_then_turn_then_idle() -> None:
    core, events, vad, turn = make()
    audio = stream(("silence", 1.024), ("wake", 0.032), ("silence", 0.256), ("speech", 1.024), ("silence", 1.024),
                   ("speech", 0.512))
    feed(core, audio)
    assert [str(e.type) for e in events] == ["wake", "speech_start", "speech_end", "turn_end"]
    wake, start, end, turn_end = events
    assert wake.keyword == "okay_nabu" and wake.audio_t == pytest.approx(1.056)
    assert start.audio_t == pytest.approx(1.312)
    assert end.audio_t == pytest.approx(2.336)
    assert turn_end.reason == "model" and turn_end.audio_t == pytest.approx(2.336 + 0.192)
    assert not core.listening
    # the VAD did not run while idle (before the wake word, after the turn)
    assert vad.calls == round((2.528 - 1.056) / 0.032)
    # the turn model saw the turn from the pre-roll on
    assert turn.seen == [round((2.528 - (1.312 - 0.3)) * 16000)]
    audio_of_turn = core.turn_audio()
    assert len(audio_of_turn) == round((2.528 - 1.012) * 16000)
    np.testing.assert_array_equal(audio_of_turn, audio[round(1.012 * 16000):round(2.528 * 16000)])


def test_always_listen_runs_turn_after_turn_and_incomplete_waits() -> None:
    core, events, _, _ = make(wake=False, turn_p=0.1, always_listen=True)
    feed(core, stream(("speech", 0.5), ("silence", 1.5), ("speech", 0.5), ("silence", 1.5)))
    ends = [e for e in events if str(e.type) == "turn_end"]
    assert [e.reason for e in ends] == ["max_silence", "max_silence"]
    assert ends[1].speech_start_t == pytest.approx(2.0, abs=0.04)


def test_push_to_talk_playback_barge_in_and_skip() -> None:
    core, events, vad, _ = make(wake=False)
    feed(core, stream(("speech", 0.5)))
    assert events == [] and vad.calls == 0  # idle, no wake engine: nothing runs
    core.start_listening()
    feed(core, stream(("speech", 0.5), ("silence", 0.5)))
    assert [str(e.type) for e in events] == ["speech_start", "speech_end", "turn_end"]
    events.clear()
    core.set_playback_active(True)
    feed(core, stream(("silence", 0.3), ("speech", 0.3)))
    assert [str(e.type) for e in events] == ["barge_in", "speech_start"]
    core.set_playback_active(False)
    t = core.t
    core.skip(1600)
    assert core.t == pytest.approx(t + 0.1)
    core.end_turn()
    assert events[-1].reason == "forced"


def test_listener_thread_reads_the_ring_and_takes_commands_from_other_threads() -> None:
    core, events, _, _ = make(wake=False)
    ring = RingBuffer(16000 * 5)
    lis = Listener(core, ring)
    got = threading.Event()

    def on_event(e: Event) -> None:
        events.append(e)
        if str(e.type) == "turn_end":
            got.set()

    core.on_event = on_event
    lis.start()
    try:
        lis.start_listening()  # from this (foreign) thread
        audio = stream(("silence", 0.2), ("speech", 0.6), ("silence", 0.6))
        for i in range(0, len(audio), 160):  # 10 ms "callbacks", faster than real time
            ring.write(np.ascontiguousarray(audio[i:i + 160]))
            time.sleep(0.0005)
        assert got.wait(10.0)
    finally:
        lis.stop()
    assert [str(e.type) for e in events] == ["speech_start", "speech_end", "turn_end"]
    assert events[0].audio_t == pytest.approx(0.192, abs=0.04)
    assert len(lis.turn_audio()) > 0.6 * 16000


def test_idle_listener_wakes_up_per_batch_but_takes_commands_at_once() -> None:
    core, _, _, _ = make(wake=False)
    lis = Listener(core, RingBuffer(16000 * 5))
    assert lis.wanted_samples() == IDLE_BATCH_HOPS * HOP  # idle: only the wake word would run
    core.start_listening()
    assert lis.wanted_samples() == HOP
    core.stop_listening()
    core.set_playback_active(True)  # barge-in watch: the VAD runs every hop
    assert lis.wanted_samples() == HOP
    assert Listener(make(wake=False)[0], RingBuffer(HOP * 3)).wanted_samples() == HOP * 3 // 2  # half a small ring
    idle, _, _, _ = make(wake=False)
    lis = Listener(idle, RingBuffer(16000 * 5))
    lis.start()
    try:
        lis.start_listening()  # the thread is waiting for audio that does not come: the command ends the wait
        deadline = time.monotonic() + 2.0
        while not idle.listening and time.monotonic() < deadline:
            time.sleep(0.005)
        assert idle.listening
    finally:
        lis.stop()


def test_ring_overrun_keeps_the_clock() -> None:
    core, events, _, _ = make(wake=False)
    ring = RingBuffer(HOP * 4)
    lis = Listener(core, ring)
    ring.write(np.zeros(HOP * 6, np.int16))  # 2 hops overwritten before the listener ran
    lis.step()
    assert core.samples == HOP * 6


@pytest.mark.real_model
def test_real_models_end_a_complete_sentence(model_path) -> None:
    from edge_agent.listen.turn import TurnDetector
    from edge_agent.listen.vad import SileroVad

    events: list[Event] = []
    core = ListenerCore(SileroVad(model_path("silero-vad-int8", "silero_vad_16k_int8.onnx")),
                        TurnDetector(model_path("smart-turn-v3.2", "smart-turn-v3.2-cpu.onnx")), None,
                        events.append, PolicyConfig(), always_listen=True)
    utt = next(u for u in speechgen.complete_sentences(n=6) if u.voice.startswith("piper"))
    feed(core, utt.samples)
    ends = [e for e in events if str(e.type) == "turn_end"]
    assert ends, events
    assert ends[0].speech_start_t == pytest.approx(utt.segments[0].start_t, abs=0.15)
    assert utt.last_word_t - 0.1 < ends[0].audio_t < utt.last_word_t + 2.1
