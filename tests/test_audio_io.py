"""Audio I/O: WAV input/playback, the microphone's reconnect logic (a fake PyAudio), and the real
PyAudio/PortAudio path through ALSA's file plugin (a temporary ``.asoundrc`` in a subprocess).

The ALSA ``file`` plugin records what is played; its slave ``null`` has no clock, so playback is
paced by piping the file through a small script that reads at the sample rate (``file "|cmd"``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alsa_helpers import write_alsa_config

from edge_agent.audio.echo_reference import EchoReference
from edge_agent.audio.files import WavInput, WavPlayback
from edge_agent.audio.pa import Backoff, find_device
from edge_agent.audio.pa_mic import MicSource
from edge_agent.audio.pa_speaker import SpeakerSink
from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.audio.wav import write_wav
from edge_agent.errors import AudioError, InputDataError


def tone(freq: float, seconds: float, rate: int, amp: int = 8000) -> np.ndarray:
    return (np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * freq / rate) * amp).astype(np.int16)


def dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float32)))
    return float(np.argmax(spectrum) * rate / audio.size)


def read_all(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wf:
        return np.frombuffer(wf.readframes(wf.getnframes()), np.int16), wf.getframerate()


# --- WAV input -----------------------------------------------------------------------------------


class DrainingListener:
    """What a WAV input drives: a ring it writes into and ``step()``, which reads all of it."""

    def __init__(self, ring: RingBuffer) -> None:
        self.ring = ring
        self.got: list[np.ndarray] = []
        self.ended = 0

    def step(self) -> int:
        n = self.ring.available
        if n:
            self.got.append(self.ring.read(n))
        return n

    def end_turn(self) -> None:
        self.ended += 1


def test_wav_input_fast_never_overruns_and_loses_nothing(tmp_path: Path) -> None:
    audio = tone(300, 1.0, 16000)
    write_wav(tmp_path / "in.wav", audio, 16000)
    listener = DrainingListener(RingBuffer(1600))  # 0.1 s: far smaller than the file
    src = WavInput(tmp_path / "in.wav", paced=False)
    done = threading.Event()
    src.start(listener, done.set)
    assert done.wait(5) and src.finished
    src.stop()
    out = np.concatenate(listener.got)
    assert listener.ring.dropped == 0
    assert out.size == -(-audio.size // 512) * 512  # the last hop zero-padded
    assert np.array_equal(out[: audio.size], audio) and not out[audio.size :].any()
    assert listener.ended == 1  # the input's end ends a turn in progress
    assert src.now() == pytest.approx(out.size / 16000)


def test_wav_input_is_paced_by_default_and_resamples(tmp_path: Path) -> None:
    write_wav(tmp_path / "in.wav", tone(300, 1.0, 22050), 22050)
    src = WavInput(tmp_path / "in.wav")
    assert src.audio.size == 16000 and src.paced
    listener = DrainingListener(RingBuffer(16000))
    src.start(listener)
    time.sleep(0.2)
    assert 0 < src.written < 16000  # it takes about a second, not a moment
    assert 0.15 < src.now() < 1.0
    src.stop()
    assert src.finished and listener.ended == 0  # stopped, not ended


def test_wav_input_frames_and_bad_files(tmp_path: Path) -> None:
    write_wav(tmp_path / "in.wav", np.arange(1000, dtype=np.int16), 16000)
    frames = list(WavInput(tmp_path / "in.wav").frames(160))
    assert len(frames) == 7 and all(f.size == 160 for f in frames) and not frames[-1][40:].any()
    (tmp_path / "bad.wav").write_bytes(b"nope")
    with pytest.raises(InputDataError, match="bad.wav"):
        WavInput(tmp_path / "bad.wav")
    with pytest.raises(InputDataError, match="no such file"):
        WavInput(tmp_path / "missing.wav")
    write_wav(tmp_path / "empty.wav", np.zeros(0, np.int16), 16000)
    with pytest.raises(InputDataError, match="no audio"):
        WavInput(tmp_path / "empty.wav")


# --- WAV playback ------------------------------------------------------------------------------


def test_wav_playback_unpaced_records_replies_and_resamples(tmp_path: Path) -> None:
    sink = WavPlayback(tmp_path / "out.wav", sample_rate=22050, output_rate=16000, paced=False)

    async def play() -> None:
        sink.begin_reply()
        for _ in range(10):
            await sink.write(tone(440, 0.1, 22050))
        sink.begin_reply()
        await sink.write(tone(880, 0.5, 22050))
        await sink.drain()

    t0 = time.monotonic()
    asyncio.run(play())
    assert sink.played() == 22050 + 11025  # unpaced: heard as soon as written
    sink.close()
    out, rate = read_all(tmp_path / "out.wav")
    assert rate == 16000
    assert abs(out.size - 24000) < 100
    assert [r.sample for r in sink.replies] == [0, 22050]
    assert sink.replies[0].t >= t0
    assert abs(sink.replies[0].wall_t - time.time()) < 5
    assert dominant_hz(out[:16000], 16000) == pytest.approx(440, abs=3)
    assert dominant_hz(out[16100:], 16000) == pytest.approx(880, abs=5)


def test_wav_playback_paced_stop_cuts_the_reply_where_playback_was(tmp_path: Path) -> None:
    sink = WavPlayback(tmp_path / "out.wav", sample_rate=16000, paced=True)

    async def play() -> None:
        sink.set_volume(0.5)
        sink.begin_reply()
        await sink.write(tone(440, 3.0, 16000))
        assert sink.playing and 0 <= sink.played() < 16000
        await asyncio.sleep(0.3)
        sink.stop()
        assert not sink.playing
        await sink.write(tone(440, 1.0, 16000))  # the rest of the cancelled reply: dropped
        sink.begin_reply()
        await sink.write(tone(880, 0.2, 16000))
        await sink.drain()
        assert not sink.playing

    asyncio.run(play())
    sink.close()
    out, _ = read_all(tmp_path / "out.wav")
    first = sink.replies[0]
    assert first.stopped_at is not None and 0.25 * 16000 <= first.stopped_at < 1.5 * 16000
    assert sink.replies[1].sample == first.stopped_at
    assert out.size == first.stopped_at + 3200
    assert sink.played() == out.size
    assert np.abs(out[:1000]).max() <= 4001  # the volume applied


def test_wav_playback_lines_up_with_the_input_clock(tmp_path: Path) -> None:
    t0 = time.monotonic()
    sink = WavPlayback(tmp_path / "out.wav", sample_rate=16000, paced=True, position=lambda: time.monotonic() - t0)

    async def play() -> None:
        await asyncio.sleep(0.2)
        sink.begin_reply()
        await sink.write(tone(440, 0.1, 16000))
        await sink.drain()

    asyncio.run(play())
    sink.close()
    out, _ = read_all(tmp_path / "out.wav")
    assert sink.replies[0].sample >= 0.18 * 16000
    assert not out[: sink.replies[0].sample].any()
    assert sink.reply_samples == 1600  # the silence placed before it is not reply audio


def _reference_audio(ref: EchoReference, start: int, n: int) -> np.ndarray:
    out = np.zeros(n, np.int16)
    ref.read_at_into(out, start)
    return out


def test_wav_playback_feeds_the_echo_reference_on_the_input_timeline(tmp_path: Path) -> None:
    position = [0.5]
    sink = WavPlayback(tmp_path / "out.wav", sample_rate=22050, paced=False, position=lambda: position[0])
    ref = EchoReference()
    sink.add_reference(ref)
    assert ref.timeline

    async def play() -> None:
        sink.begin_reply()
        await sink.write(tone(440, 0.5, 22050))

    asyncio.run(play())
    got = _reference_audio(ref, 0, 24000)
    loud = np.flatnonzero(np.abs(got) > 1000)
    assert loud[0] == pytest.approx(8000, abs=40)  # the reply plays from input time 0.5 s, at 16 kHz
    assert loud[-1] == pytest.approx(16000, abs=40)
    assert dominant_hz(got[8000:16000], 16000) == pytest.approx(440, abs=3)


def test_wav_playback_cut_by_stop_is_cut_in_the_reference(tmp_path: Path) -> None:
    t0 = time.monotonic()
    sink = WavPlayback(tmp_path / "out.wav", sample_rate=16000, paced=True, position=lambda: time.monotonic() - t0)
    ref = EchoReference()
    sink.add_reference(ref)

    async def play() -> None:
        sink.begin_reply()
        await sink.write(tone(440, 3.0, 16000))
        await asyncio.sleep(0.3)
        sink.stop()

    asyncio.run(play())
    cut = sink.replies[0].stopped_at
    assert cut is not None
    got = _reference_audio(ref, 0, 4 * 16000)
    assert np.abs(got[: cut - 100]).max() > 1000
    assert not got[cut:].any()  # what was never played is not in the reference


def test_speaker_reference_gets_what_was_played_at_16k_from_the_callback() -> None:
    world = FakeWorld(rates=(48000,))
    ref = EchoReference()
    sink = SpeakerSink(sample_rate=22050, device="HDA", pyaudio_module=world, reference=ref)
    sink.begin_reply()
    t = tone(440, 1.0, 22050)
    for i in range(0, t.size, 2205):
        sink.write(t[i : i + 2205])
    assert sink.drain(timeout=10)
    time.sleep(0.1)
    sink.close()
    assert sink.opened_rate == 48000
    got = ref.ring.read(ref.ring.available)
    # everything played, silence included, at 16 kHz; the tone's energy is one second's worth
    seconds = float(np.sum(got.astype(np.float64) ** 2)) / (8000.0**2 / 2) / 16000
    assert seconds == pytest.approx(1.0, abs=0.08)
    loud = got[np.abs(got) > 100]
    assert loud.size and dominant_hz(got[np.flatnonzero(np.abs(got) > 1000)[0]:][:8000], 16000) == pytest.approx(440, abs=5)
    assert ref.dac_latency_s is None  # the fake device reports no timing


def test_speaker_callback_records_the_dac_latency() -> None:
    ref = EchoReference()
    sink = SpeakerSink(sample_rate=16000, reference=ref)
    sink.opened_rate = 16000
    sink._ref_out = np.zeros(1280, np.int16)
    sink._reference_period(320, 0, {"current_time": 10.0, "output_buffer_dac_time": 10.045})
    assert ref.dac_latency_s == pytest.approx(0.045)
    assert ref.ring.available == 320  # silence is reference too: the timeline stays continuous


# --- device choice and reconnects with a fake PyAudio --------------------------------------------


class FakeStream:
    def __init__(self, world: FakeWorld, callback: Any, rate: int, frames: int) -> None:
        self.world, self.callback, self.rate, self.frames = world, callback, rate, frames
        self.active = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        n = 0
        while self.active and self.world.present:
            if self.world.delivering:
                data = tone(1000, self.frames / self.rate, self.rate)
                self.callback(data.tobytes(), self.frames, {}, 0)
                n += 1
            time.sleep(self.frames / self.rate)
        self.active = False

    def is_active(self) -> bool:
        if not self.world.present:
            raise OSError(-9999, "Unanticipated host error")
        return self.active

    def stop_stream(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False


class FakeWorld:
    """What a fake PyAudio module sees: one USB microphone that can be unplugged."""

    paInt16 = 8

    def __init__(self, rates: tuple[int, ...] = (16000, 48000)) -> None:
        self.present = True
        self.delivering = True
        self.rates = rates
        self.opened: list[int] = []
        self.attempts: list[float] = []

    def PyAudio(self) -> FakePa:
        self.attempts.append(time.monotonic())  # each (re)open starts a fresh PortAudio
        return FakePa(self)


class FakePa:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    def devices(self) -> list[dict[str, Any]]:
        devs = [{"name": "HDA Intel PCH: ALC (hw:0,0)", "maxInputChannels": 0, "maxOutputChannels": 2,
                 "defaultSampleRate": 48000.0}]
        if self.world.present:
            devs.append({"name": "USB PnP Sound Device: Audio (hw:1,0)", "maxInputChannels": 1,
                         "maxOutputChannels": 0, "defaultSampleRate": 48000.0})
        return devs

    def get_device_count(self) -> int:
        return len(self.devices())

    def get_device_info_by_index(self, i: int) -> dict[str, Any]:
        return {**self.devices()[i], "index": i}

    def get_default_input_device_info(self) -> dict[str, Any]:
        raise OSError(-9996, "No Default Input Device Available")

    def is_format_supported(self, rate: int, **kw: Any) -> bool:
        if rate not in self.world.rates:
            raise ValueError("Invalid sample rate")
        return True

    def open(self, rate: int, frames_per_buffer: int, stream_callback: Any, **kw: Any) -> FakeStream:
        if not self.world.present:
            raise OSError(-9996, "Invalid input device (no default output device)")
        self.world.opened.append(rate)
        return FakeStream(self.world, stream_callback, rate, frames_per_buffer)

    def terminate(self) -> None:
        pass


def wait_for(cond: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def test_missing_device_lists_the_devices() -> None:
    world = FakeWorld()
    with pytest.raises(AudioError) as err:
        MicSource(RingBuffer(16000), device="Blue Yeti", pyaudio_module=world).start()
    assert "Blue Yeti" in err.value.message and "USB PnP Sound Device" in err.value.message
    assert "HDA Intel" in err.value.message  # every device, not just the inputs
    with pytest.raises(AudioError, match="index 0"):
        find_device(world.PyAudio(), 0, "input")  # an output-only device is not a microphone
    assert find_device(world.PyAudio(), "usb pnp", "input")["index"] == 1
    assert find_device(world.PyAudio(), "1", "input")["index"] == 1
    assert find_device(world.PyAudio(), None, "input")["index"] == 1  # no default: the first input
    from edge_agent.audio.pa import available_devices

    assert [d["index"] for d in available_devices(world)] == [0, 1]


def test_backoff_doubles_up_to_the_cap() -> None:
    b = Backoff(0.5, 3.0)
    assert [b.delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    b.reset()
    assert b.delay() == 0.5


def test_unplugged_microphone_is_retried_with_backoff_and_picked_up_again() -> None:
    world = FakeWorld()
    events: list[str] = []
    ring = RingBuffer(16000)
    mic = MicSource(ring, device="USB", pyaudio_module=world, reconnect_initial_s=0.02, reconnect_max_s=0.08,
                    check_s=0.01, on_event=lambda kind, _: events.append(kind))
    delays: list[float] = []
    real_delay = mic.backoff.delay
    def recorded_delay() -> float:
        delays.append(real_delay())
        return delays[-1]

    mic.backoff.delay = recorded_delay  # type: ignore[method-assign]
    mic.start()
    try:
        assert wait_for(lambda: ring.total_written > 1600)
        world.present = False  # unplugged
        assert wait_for(lambda: len(world.attempts) >= 6)
        assert events == ["audio_lost"]
        world.present = True  # plugged in again
        assert wait_for(lambda: mic.reconnects == 1)
        before = ring.total_written
        assert wait_for(lambda: ring.total_written > before + 1600)
    finally:
        mic.stop()
    assert delays[:5] == [0.02, 0.04, 0.08, 0.08, 0.08]
    assert events == ["audio_lost", "audio_restored"]
    gaps = np.diff(world.attempts[1:6])  # attempts[0] opened it at first; [1] is the first retry
    assert all(g >= d * 0.9 for g, d in zip(gaps, delays[1:], strict=False))


def test_a_stream_that_stops_delivering_is_reopened() -> None:
    world = FakeWorld()
    ring = RingBuffer(16000)
    mic = MicSource(ring, pyaudio_module=world, reconnect_initial_s=0.01, check_s=0.01, stall_s=0.1)
    mic.start()
    try:
        assert wait_for(lambda: ring.total_written > 0)
        world.delivering = False  # the stream says it is active but no audio comes
        assert wait_for(lambda: len(world.opened) >= 2)
        world.delivering = True
        assert wait_for(lambda: mic.reconnects >= 1)
    finally:
        mic.stop()


def test_a_device_without_16k_is_resampled_off_the_callback() -> None:
    world = FakeWorld(rates=(48000,))
    ring = RingBuffer(48000)
    mic = MicSource(ring, pyaudio_module=world, check_s=0.05)
    mic.start()
    try:
        assert mic.opened_rate == 48000
        assert wait_for(lambda: ring.total_written >= 8000)
    finally:
        mic.stop()
    audio = ring.read(ring.available)
    assert dominant_hz(audio[-4000:], 16000) == pytest.approx(1000, abs=10)


# --- the real PortAudio path through ALSA plugins ------------------------------------------------

@pytest.fixture
def alsa_home(tmp_path: Path) -> Path:
    """A HOME whose ``.asoundrc`` defines ``edge_speaker`` (recorded to played.raw, 16 kHz, paced)
    and ``edge_mic`` (captures a 440 Hz tone from mic.raw)."""
    tone(440, 3.0, 16000).astype("<i2").tofile(tmp_path / "mic.raw")
    write_alsa_config(tmp_path, tmp_path / "mic.raw")
    return tmp_path


def run_with_alsa(home: Path, code: str, timeout: float = 60) -> dict[str, Any]:
    """Run ``code`` in a fresh process whose ALSA reads ``home/.asoundrc``; it prints one JSON line."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "JACK_NO_START_SERVER": "1", "PYTHONUNBUFFERED": "1"}
    if os.environ.get("PYTHONPATH"):  # a worktree's code, not the installed package's
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.real_model
def test_real_speaker_plays_into_the_alsa_file_plugin(alsa_home: Path) -> None:
    result = run_with_alsa(alsa_home, """
        import json, time, numpy as np
        from edge_agent.audio.pa_speaker import SpeakerSink
        firsts = []
        sink = SpeakerSink(sample_rate=22050, device="edge_speaker", output_rate=16000)
        sink.on_first_sample = firsts.append
        t = np.arange(22050) / 22050
        sink.begin_reply()
        for i in range(0, 22050, 2205):
            sink.write((np.sin(2 * np.pi * 440 * t[i:i + 2205]) * 8000).astype(np.int16))
        ok = sink.drain(timeout=10)
        sink.close()
        print(json.dumps({"ok": ok, "rate": sink.opened_rate, "firsts": len(firsts),
                          "first_t": sink.first_sample_t}))
    """)
    assert result["ok"] and result["rate"] == 16000 and result["firsts"] == 1 and result["first_t"]
    played = np.fromfile(alsa_home / "played.raw", dtype="<i2")
    loud = np.flatnonzero(np.abs(played) > 1000)
    assert loud.size, "nothing was played into the ALSA file plugin"
    span = played[loud[0] : loud[-1] + 1]
    # One second of tone, resampled 22050 -> 16000, all of it delivered. Measured by energy rather than
    # by span: on a loaded machine the device may underrun between writes, which inserts silence.
    seconds = float(np.sum(played.astype(np.float64) ** 2)) / (8000.0**2 / 2) / 16000
    assert seconds == pytest.approx(1.0, abs=0.05)
    assert dominant_hz(span, 16000) == pytest.approx(440, abs=3)


@pytest.mark.real_model
def test_real_speaker_feeds_the_echo_reference(alsa_home: Path) -> None:
    result = run_with_alsa(alsa_home, """
        import json, time, numpy as np
        from edge_agent.audio.echo_reference import EchoReference
        from edge_agent.audio.pa_speaker import SpeakerSink
        ref = EchoReference()
        sink = SpeakerSink(sample_rate=22050, device="edge_speaker", output_rate=16000, reference=ref)
        t = np.arange(22050) / 22050
        sink.begin_reply()
        for i in range(0, 22050, 2205):
            sink.write((np.sin(2 * np.pi * 440 * t[i:i + 2205]) * 8000).astype(np.int16))
        sink.drain(timeout=10)
        time.sleep(0.2)
        sink.close()
        got = ref.ring.read(ref.ring.available).astype(np.float64)
        print(json.dumps({"seconds": float(np.sum(got ** 2)) / (8000.0 ** 2 / 2) / 16000,
                          "latency": ref.dac_latency_s}))
    """)
    assert result["seconds"] == pytest.approx(1.0, abs=0.05)
    assert result["latency"] is None or 0 < result["latency"] < 1


@pytest.mark.real_model
def test_real_speaker_stop_interrupts_playback(alsa_home: Path) -> None:
    result = run_with_alsa(alsa_home, """
        import json, threading, time, numpy as np
        from edge_agent.audio.pa_speaker import SpeakerSink
        sink = SpeakerSink(sample_rate=16000, device="edge_speaker", queue_s=1.0)
        t = np.arange(16000 * 6) / 16000
        long_reply = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        sink.begin_reply()
        writer = threading.Thread(target=lambda: [sink.write(long_reply[i:i + 1600])
                                                  for i in range(0, long_reply.size, 1600)])
        writer.start()
        while sink.first_sample_t is None:
            time.sleep(0.005)
        time.sleep(1.0)
        t0 = time.monotonic()
        sink.stop()
        stop_ms = (time.monotonic() - t0) * 1000
        acked = sink._flush_done == sink._flush_requested
        writer.join(timeout=2)
        writer_done = not writer.is_alive()
        queued_after_stop = sink._ring.available
        sink.begin_reply()  # the next reply plays normally
        sink.write((np.sin(2 * np.pi * 880 * t[:8000]) * 8000).astype(np.int16))
        sink.drain(timeout=5)
        sink.close()
        print(json.dumps({"stop_ms": stop_ms, "acked": acked, "writer_done": writer_done,
                          "queued_after_stop": queued_after_stop}))
    """)
    print(f"\nspeaker stop() returned in {result['stop_ms']:.1f} ms")
    assert result["acked"] and result["writer_done"] and result["queued_after_stop"] == 0
    played = np.fromfile(alsa_home / "played.raw", dtype="<i2")
    frames = played[: played.size // 160 * 160].reshape(-1, 160)
    hz = np.array([dominant_hz(f, 16000) if np.abs(f).max() > 1000 else 0 for f in frames])
    low = np.flatnonzero(np.abs(hz - 450) < 60)  # 440 Hz frames (100 Hz bins)
    high = np.flatnonzero(np.abs(hz - 900) < 60)
    assert low.size and high.size
    assert low.size * 160 < 4.0 * 16000, "the 6 s reply was not cut"  # ~1 s + the device's buffers
    assert abs(high.size * 160 - 8000) < 800  # the next reply complete
    assert high[0] > low[-1]


@pytest.mark.real_model
def test_real_microphone_captures_from_the_alsa_file_plugin(alsa_home: Path) -> None:
    result = run_with_alsa(alsa_home, """
        import json, time, numpy as np
        from edge_agent.audio.pa_mic import MicSource
        from edge_agent.audio.ringbuf import RingBuffer
        from edge_agent.errors import AudioError
        ring = RingBuffer(16000)
        mic = MicSource(ring, device="edge_mic")
        mic.start()
        while ring.total_written < 32000:
            time.sleep(0.001)
        mic.stop()
        audio = ring.read(ring.available)
        spectrum = np.abs(np.fft.rfft(audio[-8000:].astype(np.float32)))
        try:
            MicSource(RingBuffer(160), device="no such mic").start()
            missing = ""
        except AudioError as exc:
            missing = exc.message
        print(json.dumps({"rate": mic.opened_rate, "peak": int(np.abs(audio).max()),
                          "hz": float(np.argmax(spectrum) * 16000 / 8000), "missing": missing}))
    """)
    assert result["rate"] == 16000
    assert 7000 < result["peak"] <= 8001
    assert result["hz"] == pytest.approx(440, abs=15)  # 2 Hz bins; the infile wraps around
    assert "no such mic" in result["missing"] and "edge_speaker" in result["missing"] and "edge_mic" in result["missing"]
