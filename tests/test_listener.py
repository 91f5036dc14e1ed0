"""The listener: the source-agnostic core with fake engines (fast), the ring-buffer thread, and
the real models on generated speech."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from edge_agent import speechgen
from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.events import Event
from edge_agent.listen.listener import HOP, IDLE_BATCH_HOPS, TALKING_LOOKBACK_S, Listener, ListenerCore
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
    # every hop of the turn, plus the look-back at the wake (is the user already talking?)
    lookback = int(TALKING_LOOKBACK_S * 16000) // HOP
    assert vad.calls == round((2.528 - 1.056) / 0.032) + lookback
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


# --- echo cancellation: fast frame logic with fakes, and the closed loop with real parts -------------


def test_echo_canceller_runs_before_everything_and_history_is_the_cleaned_signal() -> None:
    from edge_agent.audio.echo import FRAME, PassThroughEchoCanceller

    core = ListenerCore(FakeVad(), None, None, lambda e: None, PolicyConfig(), echo=PassThroughEchoCanceller(HOP))
    hop = np.arange(HOP, dtype=np.int16)
    core.process_hop(hop)
    core.process_hop(hop)
    heard = core.audio_between(0.0)
    assert np.array_equal(heard[FRAME : FRAME + HOP], hop)  # 10 ms behind the microphone


def test_pass_through_canceller_means_half_duplex_while_the_agent_speaks() -> None:
    from edge_agent.audio.echo import PassThroughEchoCanceller

    events: list[Event] = []
    core = ListenerCore(FakeVad(), None, None, events.append, PolicyConfig(), echo=PassThroughEchoCanceller(HOP))
    core.set_playback_active(True)
    loud = np.full(HOP, LOUD, np.int16)
    for _ in range(30):
        core.process_hop(loud, loud)
    assert not [e for e in events if str(e.type) == "barge_in"]
    core.set_playback_active(False)
    core.start_listening()
    for _ in range(30):
        core.process_hop(loud)
    assert [e for e in events if str(e.type) == "speech_start"]


def test_listener_reads_a_reference_hop_beside_each_microphone_hop() -> None:
    from edge_agent.audio.drift import TAPS
    from edge_agent.audio.echo import PassThroughEchoCanceller
    from edge_agent.audio.echo_reference import EchoReference

    seen: list[np.ndarray] = []

    class Recording(PassThroughEchoCanceller):
        def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
            seen.append(ref.copy())
            return super().process(mic, ref)

    core = ListenerCore(FakeVad(), None, None, lambda e: None, PolicyConfig(), echo=Recording(HOP))
    ring = RingBuffer(HOP * 8)
    reference = EchoReference(timeline=True)
    reference.write_at(np.full(HOP, 7, np.int16), HOP)  # played during the second hop
    listener = Listener(core, ring, reference=reference)
    ring.write(np.zeros(3 * HOP, np.int16))
    assert listener.step() == 3
    late = TAPS // 2  # read through the clock-drift correction: its interpolation's look-ahead, from the start
    assert not seen[0].any() and not seen[1][:late].any() and (seen[1][late:] == 7).all()
    assert (seen[2][:late] == 7).all() and not seen[2][late:].any()


def test_vad_reads_the_suppressed_output_and_the_history_the_linear_one() -> None:
    """With a canceller that has a linear output, the VAD hears the suppressed signal (is it speech?)
    and the history, hence the STT and the turn model, gets the linear one (what was said)."""
    from edge_agent.audio.echo import PassThroughEchoCanceller

    class TwoOutputs(PassThroughEchoCanceller):
        has_linear = True

        def _frame(self, mic: np.ndarray, ref: np.ndarray, out: np.ndarray, linear: np.ndarray) -> None:
            out[:] = 0  # the suppressor took everything
            linear[:] = mic

    heard: list[float] = []

    class RecordingVad(FakeVad):
        def process(self, frame: np.ndarray) -> float:
            heard.append(super().process(frame))
            return heard[-1]

    core = ListenerCore(RecordingVad(), None, None, lambda e: None, PolicyConfig(), echo=TwoOutputs(HOP))
    core.start_listening()
    loud = np.full(HOP, LOUD, np.int16)
    for _ in range(4):
        core.process_hop(loud, np.ones(HOP, np.int16))
    assert heard and max(heard) < 0.5  # the VAD got the suppressed (silent) output
    assert (core.audio_between(2 * HOP / 16000) == LOUD).all()  # the history: the microphone's words


def _thinning_canceller() -> Any:
    """A converged canceller whose suppressor thins everything (the VAD on its output hears no
    speech) and whose linear output is the microphone's."""
    from edge_agent.audio.echo import PassThroughEchoCanceller

    class Thinning(PassThroughEchoCanceller):
        has_linear = True
        active = True

        def _frame(self, mic: np.ndarray, ref: np.ndarray, out: np.ndarray, linear: np.ndarray) -> None:
            out[:] = mic // 8
            linear[:] = mic

    return Thinning(HOP)


def test_a_word_the_suppressor_thinned_is_heard_on_the_linear_output_far_above_the_echo_floor() -> None:
    """While the agent speaks, a hop whose suppressed output stands far above the residual floor
    counts as the user when the second VAD, on the linear output, calls it speech (the suppressor
    thinned it below what the first VAD calls speech); that VAD starts afresh with each reply."""
    from edge_agent.events import BargeIn

    resets: list[int] = []

    class WordsVad(FakeVad):
        def reset(self) -> None:
            resets.append(1)

    events: list[object] = []
    core = ListenerCore(FakeVad(), None, None, events.append, PolicyConfig(playback_threshold=0.5, barge_in_ms=96),
                        echo=_thinning_canceller(), words_vad=WordsVad())
    core.set_playback_active(True)
    assert resets  # a new reply: a fresh state
    quiet, ref = np.full(HOP, 20, np.int16), np.full(HOP, 3000, np.int16)
    for _ in range(40):  # the reply alone: the floor is learnt
        core.process_hop(quiet, ref)
    loud = np.full(HOP, LOUD, np.int16)
    for _ in range(6):
        core.process_hop(loud, ref)
    assert any(isinstance(e, BargeIn) for e in events)


def test_the_second_vads_verdict_holds_a_few_hops() -> None:
    """Under double talk the linear output's VAD peaks a hop or two before or after the hops far above
    the echo floor: its verdict holds ``WORDS_HOLD_HOPS``, so a short peak still makes a barge-in."""
    from edge_agent.events import BargeIn

    class PeakingVad(FakeVad):
        """0.9 on the first loud hop, 0.3 (no speech) after it."""

        def __init__(self) -> None:
            super().__init__()
            self.loud = 0

        def process(self, frame: np.ndarray) -> float:
            if np.abs(frame.astype(np.int32)).mean() <= LOUD / 2:
                return 0.05
            self.loud += 1
            return 0.9 if self.loud == 1 else 0.3

    events: list[object] = []
    core = ListenerCore(FakeVad(), None, None, events.append, PolicyConfig(playback_threshold=0.5, barge_in_ms=96),
                        echo=_thinning_canceller(), words_vad=PeakingVad())
    core.set_playback_active(True)
    quiet, ref = np.full(HOP, 20, np.int16), np.full(HOP, 3000, np.int16)
    for _ in range(40):
        core.process_hop(quiet, ref)
    loud = np.full(HOP, LOUD, np.int16)
    for _ in range(3):  # barge_in_ms
        core.process_hop(loud, ref)
    assert any(isinstance(e, BargeIn) for e in events)


def _closed_loop(core: ListenerCore, reply: np.ndarray, user: np.ndarray | None, echo_db: float) -> Any:
    """The reply through the simulated kiosk into the listener, the user 1 s in; a barge-in stops
    the reply (closed loop). A first reply lets the AEC converge, as in a conversation."""
    from edge_agent.audio.drift import ClockDriftCorrector
    from edge_agent.audio.echo_reference import EchoReference
    from edge_agent.audio.room import RoomSimulator, room_spec
    from edge_agent.bench.duplex import Trial, at_rms, play

    room = RoomSimulator(room_spec("kiosk", echo_db=echo_db), echo_rms=3000)  # pyroomacoustics (dev extra)
    reader = ClockDriftCorrector(EchoReference(), HOP)
    reply = at_rms(reply, 3000)
    play(core, room, Trial(reply), HOP, reader)
    return play(core, room, Trial(reply, None if user is None else at_rms(user, 1500)), HOP, reader)


@pytest.fixture(scope="module")
def piper_reply() -> np.ndarray:
    return speechgen.speak("Sure. Tomorrow looks mild, with a light breeze from the west and some sun in the "
                           "afternoon. I can also set a timer for you.", speechgen.Voice("piper"))


def _real_core(model_path, aec: bool) -> ListenerCore:
    import dataclasses

    from edge_agent.audio.echo import load_echo_canceller
    from edge_agent.listen.vad import SileroVad

    policy = PolicyConfig()
    if aec:
        policy = dataclasses.replace(policy, playback_threshold=0.5, barge_in_ms=96)
    library = str(model_path("webrtc-aec3", "libedge_aec3.so"))  # the canceller the daemon uses
    return ListenerCore(SileroVad(model_path("silero-vad-int8", "silero_vad_16k_int8.onnx")), None, None,
                        lambda e: None, policy, echo=load_echo_canceller(aec, HOP, linear_library=library) if aec else None)


@pytest.mark.real_model
@pytest.mark.parametrize("echo_db", [0.0, 10.0])
def test_real_aec_keeps_the_agent_from_cutting_itself_off(model_path, piper_reply, echo_db: float) -> None:
    """The Piper reply through the simulated kiosk at 0 and +10 dB: AEC on, the reply plays to the end."""
    core = _real_core(model_path, aec=True)
    outcome = _closed_loop(core, piper_reply, None, echo_db)
    assert outcome.stopped_at_s is None


@pytest.mark.real_model
def test_without_aec_the_echo_cuts_the_reply(model_path, piper_reply) -> None:
    core = _real_core(model_path, aec=False)
    outcome = _closed_loop(core, piper_reply, None, 0.0)
    assert outcome.stopped_at_s is not None


@pytest.mark.real_model
def test_real_aec_hears_the_user_over_the_reply(model_path, piper_reply) -> None:
    user = speechgen.speak("Stop. What time is it?", speechgen.ESPEAK_VOICES[1])
    core = _real_core(model_path, aec=True)
    outcome = _closed_loop(core, piper_reply, user, 6.0)
    stopped = outcome.stopped_at_s
    assert stopped is not None and 1.0 <= stopped < 1.0 + 1.0


def test_device_timing_sets_the_aec_delay_hint_and_its_absence_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from edge_agent.audio.echo import PassThroughEchoCanceller
    from edge_agent.audio.echo_reference import EchoReference

    echo = PassThroughEchoCanceller(HOP)
    core = ListenerCore(FakeVad(), None, None, lambda e: None, PolicyConfig(), echo=echo)
    ring = RingBuffer(HOP * 8)
    reference = EchoReference()  # fed by a speaker callback: read in sequence
    listener = Listener(core, ring, reference=reference)
    reference.append(np.ones(HOP, np.int16))
    ring.write(np.zeros(HOP, np.int16))
    with caplog.at_level(logging.INFO):
        listener.step()
    assert "no output timing" in caplog.text and echo.delay_ms == 0
    reference.dac_latency_s = 0.085
    reference.append(np.ones(2 * HOP, np.int16))  # the reference runs one hop ahead of the microphone:
    ring.write(np.zeros(HOP, np.int16))  # what is read beside the mic was queued 32 ms earlier
    listener.step()
    assert echo.delay_ms == 85 - 32
